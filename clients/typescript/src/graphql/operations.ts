// The booking flow's GraphQL operations. graphql-codegen reads these `graphql(...)` calls and
// types each one's variables and result from openapi/schema.graphql.
import { graphql } from "../generated/graphql/index.js";

export const CreateSkill = graphql(`
  mutation CreateSkill($input: CreateSkillInput!) {
    createSkill(input: $input) { id slug name }
  }
`);

export const CreateMentor = graphql(`
  mutation CreateMentor($input: CreateMentorInput!) {
    createMentor(input: $input) { id name version }
  }
`);

export const SetMentorSkills = graphql(`
  mutation SetMentorSkills($id: ID!, $skills: [SkillChoiceInput!]!) {
    setMentorSkills(id: $id, skills: $skills) { id skills { level skill { slug } } }
  }
`);

export const SetAvailability = graphql(`
  mutation SetAvailability($mentorId: ID!, $input: AvailabilityInput!) {
    setAvailability(mentorId: $mentorId, input: $input) { autoAccept version }
  }
`);

export const MentorSlots = graphql(`
  query MentorSlots($mentorId: ID!, $start: DateTime!, $end: DateTime!, $duration: Int!) {
    mentorSlots(mentorId: $mentorId, start: $start, end: $end, duration: $duration) { startsAt endsAt localStart }
  }
`);

export const CreateMentee = graphql(`
  mutation CreateMentee($input: CreateMenteeInput!) {
    createMentee(input: $input) { id name }
  }
`);

export const BookSession = graphql(`
  mutation BookSession($input: BookSessionInput!) {
    bookSession(input: $input) { id status startsAt version }
  }
`);

export const AcceptSession = graphql(`
  mutation AcceptSession($id: ID!) {
    acceptSession(id: $id) { id status }
  }
`);

export const CompleteSession = graphql(`
  mutation CompleteSession($id: ID!, $note: String) {
    completeSession(id: $id, note: $note) { id status }
  }
`);

export const SubmitFeedback = graphql(`
  mutation SubmitFeedback($sessionId: ID!, $input: SubmitFeedbackInput!) {
    submitFeedback(sessionId: $sessionId, input: $input) { id rating }
  }
`);

export const MentorStats = graphql(`
  query MentorStats($id: ID!) {
    mentor(id: $id) {
      stats { sessionsCompleted minutesMentored averageRating ratingsCount }
    }
  }
`);

export const SearchMentors = graphql(`
  query SearchMentors($filter: MentorFilter, $first: Int!, $after: String) {
    mentors(filter: $filter, sort: NAME, first: $first, after: $after) {
      edges { node { id name } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);
