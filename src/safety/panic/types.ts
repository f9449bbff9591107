// Temporary: the incident types moved to src/domain/incident.ts (removed once nothing imports this path).
export * from '../../domain/incident.ts';
