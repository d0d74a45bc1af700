"""Planning stage: safety verdict (exposure and temperature limits) and the settings search."""
