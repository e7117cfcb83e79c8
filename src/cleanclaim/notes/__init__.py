"""Reading clinical notes: what a note says was done, and whether it was written for this visit at all."""
