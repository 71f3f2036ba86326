"""VOD's event notifications: kept as they arrive (``inbox``), by HTTP callback (``callbacks``) or from an
MNS queue (``mns``), for the refresh plan to know which videos changed."""
