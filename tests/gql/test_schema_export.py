"""The committed contract matches the code: openapi/openapi.json and openapi/schema.graphql."""

from pathlib import Path

from mentorapi.schemas_export import EXPORTS, OPENAPI_DIR, export


def test_committed_schemas_have_not_drifted() -> None:
    assert {"openapi.json", "schema.graphql"} <= set(EXPORTS)
    assert export(check=True) == [], "run `mentorapi export-schemas` and commit the result"


def test_drift_is_detected(tmp_path: Path) -> None:
    for name in EXPORTS:
        (tmp_path / name).write_text((OPENAPI_DIR / name).read_text())
    assert export(check=True, directory=tmp_path) == []
    sdl = tmp_path / "schema.graphql"
    sdl.write_text(sdl.read_text().replace("type Mentor {", "type Mentor {\n  extra: Int"))
    (tmp_path / "openapi.json").unlink()
    assert sorted(export(check=True, directory=tmp_path)) == ["openapi.json", "schema.graphql"]


def test_sdl_has_the_promised_shape() -> None:
    sdl = (OPENAPI_DIR / "schema.graphql").read_text()
    for piece in (
        "mentors(",
        "edges: [MentorEdge!]!",
        "hasNextPage: Boolean!",
        "createMentor(input: CreateMentorInput!): Mentor!",
        "setMentorSkills(",
        "seeking: [SkillLevel!]!",
    ):
        assert piece in sdl, piece
