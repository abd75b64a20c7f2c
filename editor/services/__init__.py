"""The write API: every change to projects, clips and edits goes through these functions."""
