"""A mentee's goals for a skill, broken into milestones: what lets short sessions add up."""
