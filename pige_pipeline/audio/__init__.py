"""Audio input: probing files with ffprobe and decoding them with ffmpeg, once."""
