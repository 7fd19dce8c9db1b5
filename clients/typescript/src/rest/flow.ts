// The whole booking flow through the typed REST client: skills, mentor, availability, slots,
// mentee, book (and a double booking refused with a typed 409), accept, complete, feedback,
// mentor stats, paged mentor search. Fails (non-zero exit) on the first surprise.
import assert from "node:assert/strict";

import { apiKey, baseUrl, run, step } from "../env.js";
import { mentorapi, ok, paginate, problem, type Schemas } from "./client.js";

let retries = 0;
const api = mentorapi({ baseUrl, token: apiKey, onRetry: () => (retries += 1) });

const skill = await ok(
  api.POST("/v1/skills", { body: { slug: `code-review-${run}`, name: "Code review", category: "engineering" } }),
);
assert.match(skill.id, /^skl_/);
step(`skill ${skill.id} (${skill.slug})`);

const mentorBody = (n: number): Schemas["MentorCreate"] => ({
  external_id: `mentor-${run}-${n}`,
  name: `Ada ${n}`,
  headline: "Staff engineer",
  bio: "Reviews code kindly.",
  timezone: "Europe/Berlin",
  languages: ["en"],
  formats: ["video", "async"],
  session_lengths: [15, 30],
});
const mentor = await ok(api.POST("/v1/mentors", { body: mentorBody(0) }));
await ok(
  api.PUT("/v1/mentors/{mentor_id}/skills", {
    params: { path: { mentor_id: mentor.id } },
    body: { skills: [{ skill_id: skill.id, level: 4, note: "pull requests under 400 lines" }] },
  }),
);
step(`mentor ${mentor.id}`);

const days: Schemas["Day"][] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const availability = await ok(
  api.PUT("/v1/mentors/{mentor_id}/availability", {
    params: { path: { mentor_id: mentor.id } },
    body: {
      weekly: days.map((day) => ({ day, start: "08:00", end: "20:00" })),
      overrides: [],
      buffer_minutes: 0,
      min_notice_minutes: 60,
      weekly_capacity: 10,
      auto_accept: false,
    },
  }),
);
assert.equal(availability.auto_accept, false);
step("availability: every day 08:00-20:00 Europe/Berlin, requests need accepting");

const now = new Date();
const slots = await ok(
  api.GET("/v1/mentors/{mentor_id}/slots", {
    params: {
      path: { mentor_id: mentor.id },
      query: {
        start: now.toISOString(),
        end: new Date(now.getTime() + 7 * 86_400_000).toISOString(),
        duration: 30,
      },
    },
  }),
);
const slot = slots.data[0];
assert.ok(slot !== undefined, "a mentor free every day has a slot this week");
step(`${slots.data.length} slots; first ${slot.starts_at} (${slot.local_start})`);

const mentee = await ok(
  api.POST("/v1/mentees", {
    body: {
      external_id: `mentee-${run}`,
      name: "Grace",
      timezone: "America/New_York",
      languages: ["en"],
      seeking: [{ skill_id: skill.id, level: 2, note: "first reviews" }],
    },
  }),
);
step(`mentee ${mentee.id}`);

const ask: Schemas["SessionCreate"] = {
  mentor_id: mentor.id,
  mentee_id: mentee.id,
  topic: "How do I review a 2,000-line pull request?",
  questions: ["Where do I start?", "When do I ask for a split?"],
  skill_id: skill.id,
  format: "video",
  duration_minutes: 30,
  starts_at: slot.starts_at,
};
const booked = await ok(api.POST("/v1/sessions", { body: ask }));
assert.equal(booked.status, "requested");
const taken = await problem(api.POST("/v1/sessions", { body: ask }));
assert.equal(taken.status, 409);
assert.equal(taken.problem.status, 409);
step(`booked ${booked.id} at ${booked.starts_at}; the same slot again is a typed ${taken.status}: ${taken.problem.title}`);

const accepted = await ok(
  api.POST("/v1/sessions/{session_id}/accept", { params: { path: { session_id: booked.id } } }),
);
assert.equal(accepted.status, "booked");
step(`accepted ${accepted.id}: ${accepted.status}`);

// Completing needs a session that has started: an async one (no start time) has.
const asyncAsk = await ok(
  api.POST("/v1/sessions", {
    body: { ...ask, format: "async", duration_minutes: 15, starts_at: null, topic: "Review my first pull request, please" },
  }),
);
await ok(api.POST("/v1/sessions/{session_id}/accept", { params: { path: { session_id: asyncAsk.id } } }));
const completed = await ok(
  api.POST("/v1/sessions/{session_id}/complete", {
    params: { path: { session_id: asyncAsk.id } },
    body: { note: "Left twelve comments." },
  }),
);
assert.equal(completed.status, "completed");
step(`async session ${completed.id}: requested, accepted, ${completed.status}`);

const feedback = await ok(
  api.POST("/v1/sessions/{session_id}/feedback", {
    params: { path: { session_id: completed.id } },
    body: {
      author: "mentee",
      rating: 5,
      impact: "My next review took half the time.",
      takeaways: ["Read the tests first"],
      thanks: "Thank you!",
      note: "",
      visibility: "public",
    },
  }),
);
assert.match(feedback.id, /^fbk_/);
step(`feedback ${feedback.id}`);

const stats = (await ok(api.GET("/v1/mentors/{mentor_id}", { params: { path: { mentor_id: mentor.id } } }))).stats;
assert.equal(stats.sessions_completed, 1);
assert.equal(stats.minutes_mentored, 15);
assert.equal(stats.ratings_count, 1);
assert.equal(stats.average_rating, 5);
step(`mentor stats: ${JSON.stringify(stats)}`);

// Paged search: four more mentors with the skill, read back two at a time.
for (let n = 1; n <= 4; n++) {
  const other = await ok(api.POST("/v1/mentors", { body: mentorBody(n) }));
  await ok(
    api.PUT("/v1/mentors/{mentor_id}/skills", {
      params: { path: { mentor_id: other.id } },
      body: { skills: [{ slug: skill.slug, level: 3, note: "" }] },
    }),
  );
}
let pages = 0;
const found: string[] = [];
for await (const found_mentor of paginate(async (cursor) => {
  pages += 1;
  return ok(api.GET("/v1/mentors", { params: { query: { skill: [skill.slug], sort: "name", limit: 2, cursor } } }));
})) {
  found.push(found_mentor.name);
}
assert.deepEqual(found, ["Ada 0", "Ada 1", "Ada 2", "Ada 3", "Ada 4"]);
assert.equal(pages, 3);
step(`paged search: ${found.length} mentors in ${pages} pages`);

console.log(`typescript (openapi-fetch) flow: passed (${retries} retries on 429/503)`);
