import type { GamedayResult, SecurityEventLike } from './scenario.js';

const cellText = (value: unknown) => String(value ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
const seconds = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

function eventSummary(event: SecurityEventLike): string {
  const details = event.details ?? {};
  const keep = ['score', 'factors', 'route', 'count', 'baseline', 'kid', 'previous_kid', 'mode', 'actor'];
  return keep.filter((name) => details[name] !== undefined).map((name) => `${name}: ${details[name]}`).join('; ');
}

/** The game day's report, in Markdown: verdict, milestones, timeline, checks, events, and the post-mortem prompts. */
export function renderGamedayReport(result: GamedayResult, config: Record<string, string>): string {
  const passed = result.checks.every((check) => check.ok);
  const m = result.milestones;
  const since = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);
  const lines = [
    '# Game day: a stolen access token',
    '',
    `**Result: ${passed ? 'PASS' : 'FAIL'}** (${result.checks.filter((check) => check.ok).length}/${result.checks.length} checks) — ${result.startedAt} to ${result.finishedAt}, against ${result.target}.`,
    '',
    'Scenario: alice works from France; her tokens leak; an attacker replays them from Brazil on an unknown device and',
    'scrapes in a burst. Risk and anomaly layers run in `monitor` mode (a team that has just turned them on), so the',
    'responder must act: detect from the events, contain with revoke-all, eradicate by rotating the signing key and',
    'retiring the old one, recover with a new login. The runbook is docs/incident-response.md.',
    '',
    '## Milestones',
    '',
    '| milestone | since the start | since the attack |',
    '|---|---|---|',
    `| attack begins | ${seconds(m.attack)} | 0 |`,
    `| first alert (time to detect) | ${seconds(m.detected)} | ${seconds(since(m.attack, m.detected))} |`,
    `| contained: revoke-all (time to contain) | ${seconds(m.contained)} | ${seconds(since(m.attack, m.contained))} |`,
    `| eradicated: key rotated and old key retired | ${seconds(m.eradicated)} | ${seconds(since(m.attack, m.eradicated))} |`,
    `| recovered: alice signs in again | ${seconds(m.recovered)} | ${seconds(since(m.attack, m.recovered))} |`,
    '',
    '## Timeline',
    '',
    '| t | phase | who | action | outcome |',
    '|---|---|---|---|---|',
    ...result.timeline.map((entry) => `| +${seconds(entry.tMs)} | ${entry.phase} | ${entry.actor} | ${cellText(entry.action)} | ${cellText(entry.outcome)} |`),
    '',
    '## Checks',
    '',
    ...result.checks.map((check) => `- [${check.ok ? 'x' : ' '}] **${check.phase}**: ${cellText(check.what)}${check.detail ? ` (${cellText(check.detail)})` : ''}`),
    '',
    '## Security events (oldest first)',
    '',
    '| at | type | user | reason | details |',
    '|---|---|---|---|---|',
    ...result.events.map((event) => `| ${event.at} | ${event.type} | ${cellText(event.sub ?? '')} | ${cellText(event.reason ?? '')} | ${cellText(eventSummary(event))} |`),
    '',
    '## Demo configuration',
    '',
    ...Object.entries(config).map(([name, value]) => `- \`${name}=${value}\``),
    '',
    '## For the post-mortem',
    '',
    'Copy the template at the end of docs/incident-response.md and answer, from the timeline above:',
    '',
    '- Would `enforce` mode have stopped the replay (the `risk_denied` score and factors)? What would it have cost legitimate users?',
    '- Which alert would have paged someone, and how long after the attack? (time to detect)',
    '- Was revoke-all enough, or should the lockdown (`step-up`) have been used while the scope was unknown?',
    '- Was the key rotation needed (did the signing key leak), and did every instance pick the new key up?',
    '',
  ];
  return lines.join('\n');
}
