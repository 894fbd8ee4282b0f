"""Annotators that paint one frame each: skeleton, heads-up panel, failed checks."""
