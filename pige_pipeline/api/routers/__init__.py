"""One router per resource: stations, plays, statements, dead air, coverage, transcripts, evidence."""
