// The booking flow through GraphQL with graphql-codegen's typed operations: the same steps as
// the REST flow (src/rest/flow.ts), with CONFLICT for the double booking.
import assert from "node:assert/strict";

import { apiKey, baseUrl, run, step } from "../env.js";
import type { SessionFormat, Weekday } from "../generated/graphql/graphql.js";
import { paginate } from "../pages.js";
import { GraphQLProblem, graphqlClient } from "./client.js";
import * as op from "./operations.js";

let retries = 0;
const execute = graphqlClient({ url: `${baseUrl}/graphql`, token: apiKey, onRetry: () => (retries += 1) });

const { createSkill: skill } = await execute(op.CreateSkill, {
  input: { slug: `pairing-${run}`, name: "Pair programming", category: "engineering" },
});
step(`skill ${skill.id} (${skill.slug})`);

const formats: SessionFormat[] = ["VIDEO", "ASYNC"];
const newMentor = async (n: number) =>
  (
    await execute(op.CreateMentor, {
      input: {
        externalId: `gql-mentor-${run}-${n}`,
        name: `Linus ${n}`,
        timezone: "Europe/Helsinki",
        headline: "Kernel maintainer",
        languages: ["en", "fi"],
        formats,
        sessionLengths: [15, 30],
      },
    })
  ).createMentor;
const mentor = await newMentor(0);
await execute(op.SetMentorSkills, { id: mentor.id, skills: [{ skillId: skill.id, level: 5 }] });
step(`mentor ${mentor.id}`);

const days: Weekday[] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
const { setAvailability } = await execute(op.SetAvailability, {
  mentorId: mentor.id,
  input: {
    weekly: days.map((day) => ({ day, start: "08:00", end: "20:00" })),
    bufferMinutes: 0,
    minNoticeMinutes: 60,
    weeklyCapacity: 10,
    autoAccept: false,
  },
});
assert.equal(setAvailability.autoAccept, false);
step("availability set");

const now = new Date();
const { mentorSlots } = await execute(op.MentorSlots, {
  mentorId: mentor.id,
  start: now.toISOString(),
  end: new Date(now.getTime() + 7 * 86_400_000).toISOString(),
  duration: 30,
});
const slot = mentorSlots[0];
assert.ok(slot !== undefined, "a mentor free every day has a slot this week");
step(`${mentorSlots.length} slots; first ${slot.startsAt} (${slot.localStart})`);

const { createMentee: mentee } = await execute(op.CreateMentee, {
  input: { externalId: `gql-mentee-${run}`, name: "Margaret", timezone: "Asia/Tokyo", seeking: [{ slug: skill.slug }] },
});
step(`mentee ${mentee.id}`);

const video: SessionFormat = "VIDEO";
const ask = {
  mentorId: mentor.id,
  menteeId: mentee.id,
  topic: "How do I split a patch series for review?",
  questions: ["How small is small enough?"],
  skillId: skill.id,
  format: video,
  durationMinutes: 30,
  startsAt: slot.startsAt,
};
const { bookSession: booked } = await execute(op.BookSession, { input: ask });
assert.equal(booked.status, "REQUESTED");
const taken = await execute(op.BookSession, { input: ask }).then(
  () => assert.fail("the same slot twice was booked"),
  (error: unknown) => error,
);
assert.ok(taken instanceof GraphQLProblem, String(taken));
assert.equal(taken.code, "CONFLICT");
step(`booked ${booked.id}; the same slot again is ${taken.code}`);

const { acceptSession: accepted } = await execute(op.AcceptSession, { id: booked.id });
assert.equal(accepted.status, "BOOKED");
step(`accepted ${accepted.id}: ${accepted.status}`);

const { bookSession: asyncAsk } = await execute(op.BookSession, {
  input: { ...ask, format: "ASYNC", durationMinutes: 15, startsAt: null, topic: "Review my first kernel patch, please" },
});
await execute(op.AcceptSession, { id: asyncAsk.id });
const { completeSession: completed } = await execute(op.CompleteSession, { id: asyncAsk.id, note: "Merged." });
assert.equal(completed.status, "COMPLETED");
step(`async session ${completed.id}: ${completed.status}`);

const { submitFeedback: feedback } = await execute(op.SubmitFeedback, {
  sessionId: completed.id,
  input: { author: "MENTEE", rating: 4, impact: "My patch was merged first time.", thanks: "Kiitos!", visibility: "PUBLIC" },
});
assert.equal(feedback.rating, 4);
step(`feedback ${feedback.id}`);

const { mentor: withStats } = await execute(op.MentorStats, { id: mentor.id });
assert.equal(withStats.stats.sessionsCompleted, 1);
assert.equal(withStats.stats.minutesMentored, 15);
assert.equal(withStats.stats.averageRating, 4);
step(`mentor stats: ${JSON.stringify(withStats.stats)}`);

for (let n = 1; n <= 4; n++) {
  const other = await newMentor(n);
  await execute(op.SetMentorSkills, { id: other.id, skills: [{ slug: skill.slug, level: 3 }] });
}
let pages = 0;
const found: string[] = [];
for await (const node of paginate(async (cursor) => {
  pages += 1;
  const { mentors } = await execute(op.SearchMentors, { filter: { skills: [skill.slug] }, first: 2, after: cursor ?? null });
  return { data: mentors.edges.map((edge) => edge.node), next_cursor: mentors.pageInfo.hasNextPage ? mentors.pageInfo.endCursor : null };
})) {
  found.push(node.name);
}
assert.deepEqual(found, ["Linus 0", "Linus 1", "Linus 2", "Linus 3", "Linus 4"]);
assert.equal(pages, 3);
step(`paged search: ${found.length} mentors in ${pages} pages`);

console.log(`graphql (graphql-codegen) flow: passed (${retries} retries on 429/503)`);
