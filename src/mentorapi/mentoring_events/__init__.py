"""Speed-mentoring events: …"""
