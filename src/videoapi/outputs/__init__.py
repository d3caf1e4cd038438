"""What every job does with what it renders: visible watermarks, moderation, provenance, storage."""
