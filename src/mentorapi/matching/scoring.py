"""How well a mentor fits a mentee's ask: one rule for recommendations, cohorts and events.

Every component is in 0..1; the score is their weighted mean under the app's policy
(`Σ weight·component / Σ weight`). Facts are read in a fixed number of statements whatever the
number of mentees and mentors (matching/repository.py); components are computed here, from
those facts only, so a reason can quote the very numbers its component used.

- skill: for each asked skill (the `skills` of a recommendation, else the skills the mentee
  seeks, one level above theirs), 0 when the mentor does not offer it, below the asked level
  0.3·level/asked, at or above it 0.6 rising to 1 at level 5; the mean over the asked skills.
- text: the database's relevance of the ask to the mentor's document (repository.text_ranks).
- availability: free starts of a session (the asked length, else the mentor's shortest) in the
  window (else the next 7 days): half for their number (8 or more: full), half for those
  between 08:00 and 20:00 in the mentee's zone (4 or more: full).
- feedback: the mentees' ratings of the mentor on the asked skills (all their ratings when no
  skill is asked), Bayesian-smoothed towards PRIOR_MEAN with the weight of PRIOR_WEIGHT
  ratings and scaled 1..5 -> 0..1 (85%), and impact stories on them (15%, 3 or more: full).
- language: 1 for the mentee's first language, 0.75 for the second, 0.5 for a later one or a
  mentor who lists none, 1 when the mentee lists none; sharing none excludes the mentor.
- timezone: 1 - (hours between the two zones' offsets now, at most 12) / 12.
- load: 1 - the mentor's utilisation of their weekly capacity in the week of the window's
  start (booked, requested, completed and no-show sessions; NOMINAL_CAPACITY a week when none
  is set): a busy star mentor is not everyone's first answer.
- continuity: 1 after completed sessions the mentee rated 4 or more on average, 0.6 when they
  did not rate them, 0.5 at 3 or more, 0 below; at least 0.5 for a mentor they bookmarked.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.availability.slots import (
    DAY,
    MINUTE,
    US,
    Rules,
    calendar_from,
    free_starts,
    rules_from,
    shared_clock,
    to_us,
)
from mentorapi.kit.timezones import utcnow, zone
from mentorapi.matching import repository
from mentorapi.matching.models import FeedbackAction
from mentorapi.matching.repository import History, MenteeFacts, MentorFacts, SkillRecord

COMPONENTS = (
    "skill",
    "text",
    "availability",
    "feedback",
    "language",
    "timezone",
    "load",
    "continuity",
)
# Relevance first (the ask's words and the asked skills), then the practical and the fair.
DEFAULT_WEIGHTS: dict[str, float] = {
    "skill": 0.2,
    "text": 0.35,
    "availability": 0.1,
    "feedback": 0.1,
    "language": 0.05,
    "timezone": 0.05,
    "load": 0.1,
    "continuity": 0.05,
}
PRIOR_MEAN = 4.0
PRIOR_WEIGHT = 5
NOMINAL_CAPACITY = 10
DEFAULT_WINDOW = timedelta(days=7)
WAKING_HOURS = (8, 20)
FIRST_SLOTS = 3
# Sessions read around the window: a week covers the capacity count of its first week, a day
# the sessions and buffers touching its edges (availability/service.py reads the same).
_AROUND = timedelta(days=8)


@dataclass(frozen=True)
class PairScore:
    score: float  # 0..1, the weighted total under the app's policy
    components: dict[str, float]  # the same component names as recommendations
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class Asked:
    """A skill asked for: by id, with the level the mentee wants (`explicit`: a recommendation's
    `min_level`; otherwise one above the mentee's own, `current`)."""

    skill_id: str
    target: int
    explicit: bool
    current: int | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    """One mentee asking: what for, in which words and languages, and when."""

    mentee: MenteeFacts
    text: str
    skills: tuple[Asked, ...]
    languages: tuple[str, ...]
    start: datetime  # the window (the next 7 days when none was given)
    end: datetime
    duration_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class PairFacts:
    text: float = 0.0
    mark: str | None = None
    history: History | None = None


class Evaluation:
    """A pair's score and what recommendations also show or filter on. The score's components
    and reasons (`score`) are made when first asked for: a recommendation ranks its candidates
    by `value` and shows those of the `limit` it returns only."""

    __slots__ = ("_explain", "_score", "capacity_full", "duration_minutes", "free_starts", "value")

    def __init__(
        self,
        value: float,
        explain: Callable[[], PairScore],
        free_starts: tuple[int, ...],
        duration_minutes: int,
        capacity_full: bool,
    ) -> None:
        self.value = value  # the score, as `score.score` says it
        self.free_starts = free_starts  # microseconds, in time order
        self.duration_minutes = duration_minutes
        self.capacity_full = capacity_full  # the week of the window's start is full
        self._explain = explain
        self._score: PairScore | None = None

    @property
    def score(self) -> PairScore:
        if self._score is None:
            self._score = self._explain()
        return self._score


def seeking_skills(mentee: MenteeFacts) -> tuple[Asked, ...]:
    return tuple(
        Asked(w.skill_id, min(5, w.level + 1), explicit=False, current=w.level)
        for w in mentee.seeking
    )


def seeking_text(mentee: MenteeFacts, goals: str | None) -> str:
    """What stands for the ask of a mentee who asked nothing: the skills they seek, their notes
    and their goals."""
    parts = [w.name for w in mentee.seeking] + [w.note for w in mentee.seeking if w.note]
    if goals:
        parts.append(goals)
    return "\n".join(parts)


def weights_of(policy: Mapping[str, float] | None) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **(policy or {})}


# --- components ---


# A component's reasons, made when a pair's reasons are asked for (`_Base._rank`).
Reasons = Callable[[], list[str]]
_NONE: Reasons = list


def _skill(ask: Ask, mentor: MentorFacts, names: Mapping[str, str]) -> tuple[float, Reasons]:
    if not ask.skills:
        return 0.0, _NONE
    levels = mentor.levels
    fits: list[float] = []
    offered: list[tuple[Asked, int]] = []
    for asked in ask.skills:
        level = levels.get(asked.skill_id)
        if level is None:
            fits.append(0.0)
            continue
        if level >= asked.target:
            span = 5 - asked.target
            fits.append(1.0 if span <= 0 else 0.6 + 0.4 * (level - asked.target) / span)
        else:
            fits.append(0.3 * level / asked.target)
        offered.append((asked, level))

    def reasons() -> list[str]:
        found: list[str] = []
        for asked, level in offered:
            name = names.get(asked.skill_id, asked.skill_id)
            if asked.explicit:
                found.append(f"Teaches {name} at level {level} (you asked for {asked.target})")
            else:
                found.append(
                    f"Teaches {name} at level {level}, a skill you seek"
                    f" (you are at {asked.current})"
                )
        return found

    return sum(fits) / len(fits), reasons


def _feedback(
    ask: Ask, mentor: MentorFacts, records: Mapping[tuple[str, str], SkillRecord]
) -> tuple[float, Reasons]:
    if ask.skills:
        found = [records[key] for a in ask.skills if (key := (mentor.id, a.skill_id)) in records]
        rated = sum(r.rated for r in found)
        total = sum(r.rating_sum for r in found)
        impacts = sum(r.impacts for r in found)
        where = " on the skills you asked for" if len(ask.skills) > 1 else " on this skill"
    else:
        rated, total, impacts, where = mentor.ratings_count, mentor.rating_sum, 0, ""
        impacts = mentor.impact_stories
    smoothed = (PRIOR_WEIGHT * PRIOR_MEAN + total) / (PRIOR_WEIGHT + rated)
    value = 0.85 * (smoothed - 1) / 4 + 0.15 * min(1.0, impacts / 3)

    def reasons() -> list[str]:
        found: list[str] = []
        if rated:
            found.append(f"{total / rated:.2f} from {rated} rated sessions{where}")
        if impacts:
            found.append(f"{impacts} impact stories{where}")
        return found

    return value, reasons


def _language(ask: Ask, mentor: MentorFacts) -> tuple[float, Reasons] | None:
    """None: they share no language (a hard filter)."""
    wanted = ask.languages
    if not wanted:
        return 1.0, _NONE
    if not mentor.languages:
        return 0.5, _NONE
    for i, language in enumerate(wanted):
        if language in mentor.languages:
            return 1.0 - 0.25 * min(i, 2), lambda spoken=language: [f"Speaks {spoken}"]
    return None


def _offset_seconds(timezone: str, at: datetime) -> int:
    offset = at.astimezone(zone(timezone)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _timezone(mentee_offset: int, mentor: MentorFacts, at: datetime) -> tuple[float, Reasons]:
    hours = abs(mentee_offset - _offset_seconds(mentor.timezone, at)) / 3600
    hours = min(hours, 24 - hours) if hours <= 24 else 12.0
    value = 1.0 - min(hours, 12.0) / 12
    if hours == 0:
        return value, lambda: [f"Lives by your clock ({mentor.timezone})"]
    if hours <= 3:
        return value, lambda: [f"{hours:g} hours from your time zone ({mentor.timezone})"]
    return value, _NONE


def _rules(mentor: MentorFacts) -> Rules:
    return rules_from(
        mentor.timezone,
        mentor.weekly or (),
        mentor.overrides,
        buffer_before_minutes=mentor.buffer_before_minutes,
        buffer_after_minutes=mentor.buffer_after_minutes,
        min_notice_minutes=mentor.min_notice_minutes,
        weekly_capacity=mentor.weekly_capacity,
        daily_limit_sessions=mentor.daily_limit_sessions,
        daily_limit_minutes=mentor.daily_limit_minutes,
        booking_horizon_days=mentor.booking_horizon_days,
    )


@dataclass(frozen=True, slots=True)
class _Time:
    starts: tuple[int, ...]  # free starts, microseconds, in time order (slots.free_starts)
    duration_minutes: int
    week_count: int
    capacity: int | None


def _time(ask: Ask, mentor: MentorFacts, now: datetime) -> _Time:
    """The mentor's free starts in the ask's window and their sessions in its first week."""
    rules = _rules(mentor)
    a, b = to_us(ask.start), to_us(ask.end)
    margin = _AROUND // timedelta(microseconds=1) + DAY
    clock = shared_clock(rules.zone, a - margin, b + margin)
    calendar = calendar_from(clock, mentor.held, weeks=True, days=rules.daily)
    lengths = mentor.session_lengths
    duration = ask.duration_minutes or (min(lengths) if lengths else 30)
    starts = free_starts(
        rules,
        calendar,
        clock,
        range_start=a,
        range_end=b,
        duration=duration * MINUTE,
        now=to_us(now),
    )
    week = calendar.weeks.get(clock.week(max(a, to_us(now))), 0)
    return _Time(tuple(starts), duration, week, rules.capacity)


_WAKING_SECONDS = (WAKING_HOURS[0] * 3600, WAKING_HOURS[1] * 3600)


def waking_count(starts: Sequence[int], offset: int) -> int:
    """How many of `starts` (microseconds, in time order) fall between WAKING_HOURS on a clock
    `offset` seconds ahead of UTC: those whose second of that clock's day,
    `(start // US + offset) % 86_400`, is in [08:00, 20:00). Two bisections a day of the
    starts' span rather than a test per start (a week's window holds a few dozen starts: 8
    days, 16 bisections). tests/matching/test_waking_count.py holds it to that definition."""
    if not starts:
        return 0
    low, high = _WAKING_SECONDS
    # floor(start / US) + offset >= n exactly when start >= (n - offset) * US, n an integer.
    first = (starts[0] // US + offset) // 86_400
    last = (starts[-1] // US + offset) // 86_400
    count = 0
    for day in range(first, last + 1):
        midnight = day * 86_400 - offset
        count += bisect_left(starts, (midnight + high) * US) - bisect_left(
            starts, (midnight + low) * US
        )
    return count


def _availability(ask: Ask, time: _Time, mentee_offset: int) -> tuple[float, Reasons]:
    starts = time.starts
    count = len(starts)
    if not count:
        return 0.0, _NONE
    waking = waking_count(starts, mentee_offset)
    value = 0.5 * min(1.0, count / 8) + 0.5 * min(1.0, waking / 4)
    low, high = WAKING_HOURS
    return value, lambda: [
        f"{count} free {time.duration_minutes}-minute slots in the window, "
        f"{waking} within {low:02d}:00-{high:02d}:00 in your zone"
    ]


def _load(time: _Time) -> tuple[float, Reasons]:
    capacity = time.capacity or NOMINAL_CAPACITY
    value = 1.0 - min(1.0, time.week_count / capacity)
    if time.capacity is not None and time.week_count < time.capacity:
        return value, lambda: [f"{time.week_count} of {time.capacity} sessions taken that week"]
    return value, _NONE


def _past_sessions(n: int) -> str:
    # A past session: a completed one-to-one session, or a completed group session of the
    # mentor's in which the mentee kept her seat (repository._history_query; the README's).
    return f"{n} past session" if n == 1 else f"{n} past sessions"


def _rated_of(history: History) -> str:
    """`your 2 past sessions`, or `1 of your 3 past sessions` when some went unrated."""
    if history.rated == history.completed:
        return f"your {_past_sessions(history.rated)}"
    return f"{history.rated} of your {_past_sessions(history.completed)}"


def _continuity(pair: PairFacts) -> tuple[float, list[str]]:
    value = 0.0
    reasons: list[str] = []
    history = pair.history
    if history is not None and history.completed:
        if history.rated:
            average = history.rating_sum / history.rated
            value = 1.0 if average >= 4 else 0.5 if average >= 3 else 0.0
            reasons.append(f"You rated {_rated_of(history)} with them {average:.2f} on average")
        else:
            value = 0.6
            reasons.append(f"You had {_past_sessions(history.completed)} with them")
    if pair.mark == FeedbackAction.bookmark.value:
        value = max(value, 0.5)
        reasons.append("You bookmarked them")
    return value, reasons


_TEXT, _CONTINUITY = COMPONENTS.index("text"), COMPONENTS.index("continuity")
_DISMISS = FeedbackAction.dismiss.value


def _rank_order(item: tuple[float, int, list[str]]) -> tuple[float, int]:
    # Most weighty first; a tie in the order of COMPONENTS.
    return (-item[0], item[1])


_NO_HISTORY: tuple[float, Reasons] = (0.0, _NONE)
F = TypeVar("F", float, np.ndarray)


class _Base:
    """What a pair's score takes from its mentor and the mentee's profile alone (all but text
    and continuity): a cohort's 1,000 mentees have far fewer profiles (skills sought,
    languages, zone), so 300,000 pairs need a few tens of thousands of these. The reasons are
    ranked only when a pair's reasons are asked for (a cohort needs those of its chosen pairs).
    """

    __slots__ = ("_contributions", "_parts", "_ranked", "_weights", "components", "partial", "time")

    def __init__(
        self,
        parts: tuple[tuple[float, Reasons], ...],
        weights: list[float],
        values: list[float],
        contributions: list[float],
        time: _Time,
    ) -> None:
        self.components = dict(zip(COMPONENTS, values, strict=True))  # text, continuity 0
        self.partial = sum(contributions)  # the weighted sum of these values
        self.time = time
        self._parts = parts
        self._weights = weights
        self._contributions = contributions
        self._ranked: tuple[list[tuple[float, int, list[str]]], list[str]] | None = None

    @property
    def ranked(self) -> list[tuple[float, int, list[str]]]:
        """(contribution, component, reasons) of the components with reasons, best first."""
        return self._rank()[0]

    @property
    def reasons(self) -> list[str]:
        return self._rank()[1]

    def _rank(self) -> tuple[list[tuple[float, int, list[str]]], list[str]]:
        if self._ranked is None:
            weights, values, parts = self._weights, self.components, self._parts
            ranked: list[tuple[float, int, list[str]]] = []
            for i in range(len(COMPONENTS)):
                if weights[i] > 0 and values[COMPONENTS[i]] >= 0.005:
                    found = parts[i][1]()  # the component's reasons, made here
                    if found:
                        ranked.append((self._contributions[i], i, found))
            ranked.sort(key=_rank_order)
            self._ranked = (ranked, [reason for _, _, found in ranked for reason in found])
        return self._ranked

    def reasons_with(self, extra: tuple[float, int, list[str]]) -> list[str]:
        """The reasons with a pair's own (text or continuity) in their place."""
        ranked, reasons = self._rank()
        at = bisect_right(ranked, _rank_order(extra), key=_rank_order)
        before = sum(len(found) for _, _, found in ranked[:at])
        return [*reasons[:before], *extra[2], *reasons[before:]]


class Scorer:
    """Scores pairs of one context, keeping what several pairs share (a mentor's free starts
    in a window, a mentor's fit to a mentee profile)."""

    def __init__(
        self,
        *,
        weights: Mapping[str, float],
        records: Mapping[tuple[str, str], SkillRecord],
        names: Mapping[str, str],
        now: datetime,
    ) -> None:
        self.weights = [float(weights[name]) for name in COMPONENTS]
        self.total_weight = sum(self.weights)
        self.records = records
        self.names = names
        self.now = now
        self._times: dict[tuple[str, datetime, datetime, int | None], _Time] = {}
        self._bases: dict[tuple[str, int], _Base | None] = {}
        self._offsets: dict[tuple[str, datetime], int] = {}
        self._parts: dict[tuple[object, ...], tuple[float, Reasons] | None] = {}
        # An ask's profile (all a base depends on) as a small number, found once per ask.
        self._profiles: dict[tuple[object, ...], int] = {}
        self._profile_of: dict[int, tuple[Ask, int]] = {}

    def time(self, ask: Ask, mentor: MentorFacts) -> _Time:
        key = (mentor.id, ask.start, ask.end, ask.duration_minutes)
        found = self._times.get(key)
        if found is None:
            found = self._times[key] = _time(ask, mentor, self.now)
        return found

    def _offset(self, timezone: str, at: datetime) -> int:
        key = (timezone, at)
        found = self._offsets.get(key)
        if found is None:
            found = self._offsets[key] = _offset_seconds(timezone, at)
        return found

    def _profile(self, ask: Ask) -> int:
        known = self._profile_of.get(id(ask))
        if known is not None and known[0] is ask:
            return known[1]
        shape = (
            ask.skills,
            ask.languages,
            ask.mentee.timezone,
            ask.start,
            ask.end,
            ask.duration_minutes,
        )
        profile = self._profiles.setdefault(shape, len(self._profiles))
        self._profile_of[id(ask)] = (ask, profile)  # the ask is kept: its id stays its own
        return profile

    def _base(self, ask: Ask, mentor: MentorFacts) -> _Base | None:
        key = (mentor.id, self._profile(ask))
        if key in self._bases:
            return self._bases[key]
        found = self._bases[key] = self._compute_base(ask, mentor)
        return found

    def _part(
        self, key: tuple[object, ...], compute: Callable[[], tuple[float, Reasons] | None]
    ) -> tuple[float, Reasons] | None:
        if key in self._parts:
            return self._parts[key]
        found = self._parts[key] = compute()
        return found

    def _compute_base(self, ask: Ask, mentor: MentorFacts) -> _Base | None:
        language = self._part(
            ("language", ask.languages, tuple(mentor.languages)), lambda: _language(ask, mentor)
        )
        if language is None:
            return None
        at = max(ask.start, self.now)
        offset = self._offset(ask.mentee.timezone, at)
        time = self.time(ask, mentor)
        window = (ask.start, ask.end, ask.duration_minutes)
        availability = self._part(
            ("availability", mentor.id, window, offset), lambda: _availability(ask, time, offset)
        )
        timezone = self._part(
            ("timezone", mentor.timezone, offset, at), lambda: _timezone(offset, mentor, at)
        )
        load = self._part(("load", mentor.id, window), lambda: _load(time))
        assert availability is not None
        assert timezone is not None
        assert load is not None
        parts = (
            _skill(ask, mentor, self.names),
            _NO_HISTORY,  # text: the pair's
            availability,
            _feedback(ask, mentor, self.records),
            language,
            timezone,
            load,
            _NO_HISTORY,  # continuity: the pair's
        )
        values = [round(part[0], 4) for part in parts]
        contributions = [w * v for w, v in zip(self.weights, values, strict=True)]
        return _Base(parts, self.weights, values, contributions, time)

    def with_text(self, partial: F, text: F) -> F:
        """A base's weighted sum with the pair's (rounded) text relevance: one expression for
        a pair (floats) and for a cohort's pair matrix (numpy arrays, the same IEEE additions
        and products in the same order, so the same bits)."""
        return partial + self.weights[_TEXT] * text

    def final(self, total: float) -> float:
        return round(total / self.total_weight, 4)

    def score(
        self, ask: Ask, mentor: MentorFacts, pair: PairFacts
    ) -> tuple[PairScore, _Base] | None:
        """The pair's score, or None when a hard filter that does not depend on time excludes
        it (an inactive mentor, a dismissal, no shared language)."""
        found = self._total(ask, mentor, pair)
        if found is None:
            return None
        total, base, text, continuity = found
        return self._explain(self.final(total), base, text, continuity), base

    def _total(
        self, ask: Ask, mentor: MentorFacts, pair: PairFacts
    ) -> tuple[float, _Base, float, tuple[float, list[str]] | None] | None:
        """The pair's weighted sum, its base, its rounded text relevance and its continuity
        (rounded, with its reasons; None for a pair with no past and no mark): all `score`
        needs, the components and reasons aside."""
        if not mentor.active or pair.mark == _DISMISS:
            return None
        base = self._base(ask, mentor)
        if base is None:
            return None
        text = round(pair.text, 4)
        total = self.with_text(base.partial, text)
        continuity: tuple[float, list[str]] | None = None
        if pair.history is not None or pair.mark is not None:  # few pairs have any
            value, history = _continuity(pair)
            continuity = (round(value, 4), history)
            total += self.weights[_CONTINUITY] * continuity[0]
        return total, base, text, continuity

    def _explain(
        self,
        score: float,
        base: _Base,
        text: float,
        continuity: tuple[float, list[str]] | None,
    ) -> PairScore:
        """The PairScore of a pair `_total` summed: its components and its reasons."""
        weights = self.weights
        components = base.components.copy()
        components["text"] = text
        blocks: list[tuple[float, int, list[str]]] = []
        if weights[_TEXT] > 0 and text >= 0.005:
            reason = f"Your ask matches their profile (text relevance {text:.2f})"
            blocks.append((weights[_TEXT] * text, _TEXT, [reason]))
        if continuity is not None:
            value, history = continuity
            components["continuity"] = value
            if weights[_CONTINUITY] > 0 and value >= 0.005 and history:
                blocks.append((weights[_CONTINUITY] * value, _CONTINUITY, history))
        # The reasons of the components that add most, each only where it adds something.
        if not blocks:
            reasons = list(base.reasons)
        elif len(blocks) == 1:
            reasons = base.reasons_with(blocks[0])
        else:
            ranked = sorted([*base.ranked, *blocks], key=_rank_order)
            reasons = [reason for _, _, found in ranked for reason in found]
        return PairScore(score, components, reasons)

    def evaluate(self, ask: Ask, mentor: MentorFacts, pair: PairFacts) -> Evaluation | None:
        """`score`, with what recommendations also show or filter on; the components and
        reasons are made (by `score`'s `_explain`) when the evaluation's `score` is read."""
        found = self._total(ask, mentor, pair)
        if found is None:
            return None
        total, base, text, continuity = found
        value = self.final(total)
        time = base.time
        return Evaluation(
            value,
            lambda: self._explain(value, base, text, continuity),
            free_starts=time.starts,
            duration_minutes=time.duration_minutes,
            capacity_full=time.capacity is not None and time.week_count >= time.capacity,
        )


# --- loading ---


@dataclass(frozen=True)
class Context:
    """Everything the pairs of some asks and mentors are scored from."""

    mentors: list[MentorFacts]
    texts: dict[tuple[str, str], float]  # (mentee, mentor) -> relevance
    marks: dict[tuple[str, str], str]
    histories: dict[tuple[str, str], History]
    records: dict[tuple[str, str], SkillRecord]
    names: dict[str, str]  # skill id -> name, for the reasons
    weights: dict[str, float]

    def scorer(self, now: datetime) -> Scorer:
        return Scorer(weights=self.weights, records=self.records, names=self.names, now=now)

    def pair(self, mentee_id: str, mentor_id: str) -> PairFacts:
        key = (mentee_id, mentor_id)
        return PairFacts(
            text=self.texts.get(key, 0.0),
            mark=self.marks.get(key),
            history=self.histories.get(key),
        )


async def load(
    db_session: AsyncSession,
    *,
    app_id: str,
    asks: Sequence[Ask],
    mentor_ids: Sequence[str],
    now: datetime,
    texts: dict[tuple[str, str], float] | None = None,
) -> Context:
    """The facts of every (ask, mentor) pair, in a fixed number of statements (`texts`: the
    text relevance, when the caller has it already)."""
    held_from = min([now, *(a.start for a in asks)]) - _AROUND
    held_to = max([now + DEFAULT_WINDOW, *(a.end for a in asks)]) + _AROUND
    mentors = await repository.mentors(
        db_session, app_id, mentor_ids, held_from=held_from, held_to=held_to, now=now
    )
    ids = [m.id for m in mentors if m.active]
    mentee_ids = [a.mentee.id for a in asks]
    if texts is None:
        texts = await repository.text_ranks(
            db_session, app_id, {a.mentee.id: a.text for a in asks}, ids
        )
    skill_ids = {s.skill_id for a in asks for s in a.skills}
    names = {o["skill"]["id"]: o["skill"]["name"] for m in mentors for o in m.offers}
    return Context(
        mentors=mentors,
        texts=texts,
        marks=await repository.marks(db_session, app_id, mentee_ids, ids),
        histories=await repository.histories(db_session, app_id, mentee_ids, ids),
        records=await repository.skill_records(db_session, app_id, ids, skill_ids),
        names=names,
        weights=await policy_weights(db_session, app_id),
    )


async def load_ask(
    db_session: AsyncSession,
    *,
    app_id: str,
    ask: Ask,
    mentor_ids: Sequence[str],
    now: datetime,
    texts: dict[tuple[str, str], float],
    weights: Mapping[str, float] | None,
) -> Context:
    """`load` for one ask whose text relevance and policy weights (None: the defaults) the
    caller has: the mentors with the mentee's marks and history in one statement, and the
    asked skills' records in another when skills are asked."""
    held_from = min(now, ask.start) - _AROUND
    held_to = max(now + DEFAULT_WINDOW, ask.end) + _AROUND
    mentee_id = ask.mentee.id
    found = await repository.candidate_facts(
        db_session, app_id, mentee_id, mentor_ids, held_from=held_from, held_to=held_to, now=now
    )
    mentors = [c.facts for c in found]
    skill_ids = {s.skill_id for s in ask.skills}
    ids = [m.id for m in mentors if m.active]
    return Context(
        mentors=mentors,
        texts=texts,
        marks={(mentee_id, c.facts.id): c.mark for c in found if c.mark is not None},
        histories={(mentee_id, c.facts.id): c.history for c in found if c.history is not None},
        records=await repository.skill_records(db_session, app_id, ids, skill_ids),
        names={o["skill"]["id"]: o["skill"]["name"] for m in mentors for o in m.offers},
        weights=weights_of(weights),
    )


async def policy_weights(db_session: AsyncSession, app_id: str) -> dict[str, float]:
    policy = await repository.get_policy(db_session, app_id)
    return weights_of(policy.weights if policy is not None else None)


async def score_pairs(
    db: AsyncSession,
    *,
    app_id: str,
    mentee_ids: Sequence[str],
    mentor_ids: Sequence[str],
    asks: Mapping[str, str] | None = None,
) -> "PairScores":
    """Every (mentee, mentor) pair's score under the app's policy, in a fixed number of
    statements. `asks` gives a mentee's ask text; otherwise the skills they seek and their
    goals stand for it. Pairs a hard filter that does not depend on time excludes (an inactive
    mentor, a dismissal, no shared language), and unknown ids, are absent. Availability and
    load look at the next 7 days. The scores are one matrix; a pair's components and reasons
    are made when it is looked up (PairScores)."""
    now = utcnow()
    mentees = await repository.mentees(db, app_id, mentee_ids)
    given = asks or {}
    missing = [m for m in mentees if m not in given]
    goals = await repository.goals_text(db, app_id, missing) if missing else {}
    end = now + DEFAULT_WINDOW
    prepared = [
        Ask(
            mentee=mentee,
            text=given[mentee.id]
            if mentee.id in given
            else seeking_text(mentee, goals.get(mentee.id)),
            skills=seeking_skills(mentee),
            languages=tuple(mentee.languages),
            start=now,
            end=end,
        )
        for mentee in mentees.values()
    ]
    context = await load(db, app_id=app_id, asks=prepared, mentor_ids=mentor_ids, now=now)
    return score_all(context, prepared, context.scorer(now))


class PairScores(Mapping[tuple[str, str], PairScore]):
    """(mentee, mentor) -> PairScore for the pairs the hard filters keep, held as one matrix of
    scores (8 bytes a pair); a pair's components and reasons are made by `Scorer.score` when
    the pair is looked up (a cohort shows those of its chosen pairs only)."""

    def __init__(
        self,
        asks: Sequence[Ask],
        context: Context,
        scorer: Scorer,
        scores: np.ndarray,  # asks x mentors, NaN where a hard filter excludes the pair
    ) -> None:
        self._asks = asks
        self._context = context
        self._scorer = scorer
        self._scores = scores
        self._rows = {a.mentee.id: i for i, a in enumerate(asks)}
        self._columns = {m.id: j for j, m in enumerate(context.mentors)}

    def _at(self, pair: tuple[str, str]) -> tuple[int, int] | None:
        i, j = self._rows.get(pair[0]), self._columns.get(pair[1])
        if i is None or j is None or np.isnan(self._scores[i, j]):
            return None
        return i, j

    def __getitem__(self, pair: tuple[str, str]) -> PairScore:
        at = self._at(pair)
        if at is None:
            raise KeyError(pair)
        ask, mentor = self._asks[at[0]], self._context.mentors[at[1]]
        found = self._scorer.score(ask, mentor, self._context.pair(pair[0], pair[1]))
        assert found is not None  # the matrix keeps what score keeps
        return found[0]

    def __contains__(self, pair: object) -> bool:
        return isinstance(pair, tuple) and len(pair) == 2 and self._at(pair) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        mentors = self._context.mentors
        for i, j in zip(*np.nonzero(~np.isnan(self._scores)), strict=True):
            yield self._asks[i].mentee.id, mentors[j].id

    def __len__(self) -> int:
        return int(np.count_nonzero(~np.isnan(self._scores)))

    def scores(self) -> dict[tuple[str, str], float]:
        """Every kept pair's score alone (what a solver needs), without making PairScores."""
        mentors = self._context.mentors
        rows, columns = np.nonzero(~np.isnan(self._scores))
        values = self._scores[rows, columns].tolist()
        return {
            (self._asks[i].mentee.id, mentors[j].id): value
            for i, j, value in zip(rows.tolist(), columns.tolist(), values, strict=True)
        }


def score_all(context: Context, asks: Sequence[Ask], scorer: Scorer) -> PairScores:
    """Every (ask, mentor) pair of the context scored by `scorer`'s rule, over the pair matrix:
    a base per (profile, mentor) as `Scorer.score` finds it, plus the text relevance in one
    array expression (`Scorer.with_text`); the few pairs with a past or a mark (continuity, a
    dismissal) go through `Scorer.score` itself. tests/matching/test_score_matrix.py checks
    that every pair's score equals `Scorer.score`'s."""
    mentors = context.mentors
    rows = {a.mentee.id: i for i, a in enumerate(asks)}
    columns = {m.id: j for j, m in enumerate(mentors)}
    partial = np.full((len(asks), len(mentors)), np.nan)
    by_profile: dict[int, np.ndarray] = {}
    for i, ask in enumerate(asks):
        profile = scorer._profile(ask)
        row = by_profile.get(profile)
        if row is None:
            row = np.full(len(mentors), np.nan)
            for j, mentor in enumerate(mentors):
                base = scorer._base(ask, mentor) if mentor.active else None
                if base is not None:
                    row[j] = base.partial
            by_profile[profile] = row
        partial[i] = row
    text = np.zeros_like(partial)
    for (mentee_id, mentor_id), value in context.texts.items():
        row_at, column_at = rows.get(mentee_id), columns.get(mentor_id)
        if row_at is not None and column_at is not None:
            text[row_at, column_at] = round(value, 4)
    final = scorer.final
    flat = scorer.with_text(partial, text).ravel().tolist()
    scores = np.array([final(total) for total in flat]).reshape(partial.shape)
    # Continuity and dismissals: a few pairs, by the rule itself.
    for pair in {*context.marks, *context.histories}:
        row_at, column_at = rows.get(pair[0]), columns.get(pair[1])
        if row_at is None or column_at is None:
            continue
        found = scorer.score(asks[row_at], mentors[column_at], context.pair(*pair))
        scores[row_at, column_at] = np.nan if found is None else found[0].score
    return PairScores(asks, context, scorer, scores)
