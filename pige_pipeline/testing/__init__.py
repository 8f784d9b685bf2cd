"""Test material, kept out of the runtime: servers and generators for tests, benchmarks and the demo.

- `icecast.py`: a real icecast2 on loopback, with ffmpeg sources you can kill, restart and retitle.
- `procs.py`: children that die with their parent (PR_SET_PDEATHSIG); who holds a TCP port.
- `loopback_smtp.py`: a real SMTP server (aiosmtpd) on loopback, plain, STARTTLS or SSL.
- `sources.py`: free real audio from Debian packages (music, French and English speech).
- `synthetic_year.py`: a year of plausible hourly Parquet for 50 stations (analytics benchmarks).
- `airplay_evalset.py`, `silence_synth.py`, `silence_evalsets.py`: labelled audio for the airplay and
  dead-air tests and benchmarks (tuning and evaluation sets).

Nothing under pige_pipeline/ imports this package except the demo (tests/foundation/test_definitions.py).
"""
