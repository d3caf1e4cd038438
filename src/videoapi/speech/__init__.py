"""Speech: transcription with faster-whisper (POST /v1/video/transcribe)."""
