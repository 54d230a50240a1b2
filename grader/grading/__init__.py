"""Grading a class: submissions read, each student x lab run confined, scored and reported."""
