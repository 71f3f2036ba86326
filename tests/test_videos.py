"""The video set: every problem of videos.csv is named; what can be fetched is fetched."""

import pytest

from pipeline.errors import ConfigurationError
from pipeline.store.videos import read_video_set


def write(tmp_path, text):
    path = tmp_path / "videos.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_blank_duplicate_and_malformed_ids_are_reported_and_the_rest_kept(tmp_path):
    path = write(tmp_path, "title,video_id\na,v1\nb,\nc,v2\nd,v1\ne,bad id!\nf, v3 \n")
    videos = read_video_set(path)
    assert videos.ids == ["v1", "v2", "v3"]
    problems = " | ".join(videos.problems())
    assert "1 blank" in problems and "1 duplicate" in problems and "line 6: 'bad id!'" in problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("id,name\nv1,x\n", "no video_id column"),
        ("video_id\n\n \n", "no usable video id"),
    ],
)
def test_unusable_sets_stop_with_a_clear_message(tmp_path, text, message):
    with pytest.raises(ConfigurationError, match=message):
        read_video_set(write(tmp_path, text))


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigurationError, match="vod-stickers videos"):
        read_video_set(tmp_path / "nope.csv")
