"""The demo: a one-hour radio programme made of real music and speech, with known truth."""
