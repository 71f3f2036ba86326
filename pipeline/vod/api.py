"""What ListDynamicImage returns: the fields of one sticker item and the formats VOD makes."""

# The 11 string fields of one ListDynamicImage item, in the API's spelling, with their snake_case name.
API_FIELDS: dict[str, str] = {
    "CreationTime": "creation_time",
    "Duration": "duration",
    "DynamicImageId": "dynamic_image_id",
    "FileSize": "file_size",
    "FileURL": "file_url",
    "Format": "format",
    "Fps": "fps",
    "Height": "height",
    "Width": "width",
    "JobId": "job_id",
    "VideoId": "video_id",
}

FORMATS = ("gif", "webp")
