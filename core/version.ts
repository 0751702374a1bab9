/** The scalpel version, recorded in every run's pipeline.resolved.json. */
export const SCALPEL_VERSION = "0.1.0";
