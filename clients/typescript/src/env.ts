// What every proof needs from `make clients`: the live server and an API key of a fresh app.
export function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set (run the proofs with \`make clients\`)`);
  }
  return value;
}

export const baseUrl = required("MENTORAPI_URL");
export const apiKey = required("MENTORAPI_KEY");
/** A suffix that keeps slugs and external ids unique when a flow runs twice on one database. */
export const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

export function step(what: string): void {
  console.log(`  ok  ${what}`);
}
