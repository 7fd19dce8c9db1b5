"""Example values shared by the schemas' examples (one story: Ana mentors Ben on pivot tables),
so the examples of the OpenAPI document refer to each other consistently."""

from pydantic.config import JsonDict

APP_ID = "app_01JD8WZ3Q4N5M6K7H8G9F0E1D2"
SKILL_ID = "skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V"
SKILL_2_ID = "skl_01JD8X4Q1M2N3P4R5S6T7V8W9X"
MENTOR_ID = "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S"
MENTEE_ID = "mte_01JD8X9E3F4G5H6J7K8M9N0P1Q"
SESSION_ID = "ses_01JDB2R5S6T7V8W9X0Y1Z2A3B4"
SERIES_ID = "ser_01JDB2Q1W2E3R4T5Y6Z7X8C9V0"
FEEDBACK_ID = "fbk_01JDC4H5J6K7M8N9P0Q1R2S3T4"
IMPACT_ID = "imp_01JFZ6A7B8C9D0E1F2G3H4J5K6"
GOAL_ID = "gol_01JD8XB2C3D4E5F6G7H8J9K0M1"
MILESTONE_ID = "mls_01JD8XB3D4E5F6G7H8J9K0M1N2"
ACTION_ITEM_ID = "act_01JDC4K6M7N8P9Q0R1S2T3V4W5"
ENDPOINT_ID = "whe_01JD8WZ8A9B0C1D2E3F4G5H6J7"
EVENT_ID = "evt_01JDB2R6T7V8W9X0Y1Z2A3B4C5"
DELIVERY_ID = "dlv_01JDB2R7V8W9X0Y1Z2A3B4C5D6"
ATTEMPT_ID = "dla_01JDB2R8W9X0Y1Z2A3B4C5D6E7"
GROUP_SESSION_ID = "grp_01JDB3A1B2C3D4E5F6G7H8J9K0"
SEAT_ID = "sea_01JDB3B2C3D4E5F6G7H8J9K0M1"
# The spring onboarding cohort: Ben (and a second mentee) matched to Ana (and a second mentor).
MENTEE_2_ID = "mte_01JD8X9F4G5H6J7K8M9N0P1Q2R"
MENTOR_2_ID = "mtr_01JD8X7D3C4B5A6Z7Y8X9W0V1T"
COHORT_ID = "coh_01JE2K4M5N6P7Q8R9S0T1V2W3X"
MATCH_RUN_ID = "mrn_01JE2K6P7Q8R9S0T1V2W3X4Y5Z"
PROPOSAL_ID = "mpr_01JE2K8R9S0T1V2W3X4Y5Z6A7B"
PROPOSAL_2_ID = "mpr_01JE2K8S0T1V2W3X4Y5Z6A7B8C"
MATCH_ID = "mat_01JE2M1T2V3W4X5Y6Z7A8B9C0D"
MENTORING_EVENT_ID = "mev_01JDD7K2M3N4P5Q6R7S8T9V0W1"

CREATED_AT = "2026-11-20T09:12:44Z"
UPDATED_AT = "2026-11-24T16:03:10Z"
# A 15-minute session on Tuesday 2 March 2027, 15:00 in Berlin.
STARTS_AT = "2027-03-02T14:00:00Z"
ENDS_AT = "2027-03-02T14:15:00Z"
EXPIRES_AT = "2027-03-01T14:00:00Z"
# Ana's pivot-table office hours, later that Tuesday: 16:00-16:30 in Berlin.
GROUP_STARTS_AT = "2027-03-02T15:00:00Z"
GROUP_ENDS_AT = "2027-03-02T15:30:00Z"

# Ana's profile as a client writes it, shared by the create and read examples of a mentor.
# Ben's action item after the pivot-table session, as ActionItemRead shows it.
ACTION_ITEM: JsonDict = {
    "id": ACTION_ITEM_ID,
    "session_id": SESSION_ID,
    "text": "Add a growth % column to the Q1 pivot",
    "due_on": "2027-03-09",
    "done": False,
    "done_at": None,
    "version": 1,
    "created_at": "2027-03-02T14:21:00Z",
    "updated_at": "2027-03-02T14:21:00Z",
}

MENTOR_PROFILE: JsonDict = {
    "external_id": "user-1207",
    "name": "Ana Sousa",
    "headline": "Finance lead; spreadsheets that explain themselves",
    "bio": "Ten years of month-end reporting. Bring your messiest sheet.",
    "timezone": "Europe/Berlin",
    "languages": ["en", "pt-BR"],
    "formats": ["video", "chat", "async"],
    "session_lengths": [15, 30],
}
