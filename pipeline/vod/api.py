"""The VOD actions the pipeline calls, their account budgets, and what ListDynamicImage returns."""

LIST_DYNAMIC_IMAGE = "ListDynamicImage"
GET_VIDEO_LIST = "GetVideoList"
SEARCH_MEDIA = "SearchMedia"
GET_VIDEO_INFOS = "GetVideoInfos"

# Calls per second VOD allows an account (and its RAM users) for each action, from VOD's QPS page. The page
# names no limit for GetVideoInfos: it is given GetVideoList's, the budget of its sibling read.
CALLS_PER_SECOND: dict[str, float] = {
    LIST_DYNAMIC_IMAGE: 100.0,
    GET_VIDEO_LIST: 100.0,
    SEARCH_MEDIA: 50.0,
    GET_VIDEO_INFOS: 100.0,
}

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
