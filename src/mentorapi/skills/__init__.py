"""The app's skill taxonomy: the discrete things mentors teach and mentees want to learn."""
