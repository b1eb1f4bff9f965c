/** The texts of every version of the board's event files, state.json and task shards that git has in `repo`. */
export function boardBlobs(repo: string): { events: string[]; states: string[]; shards: string[] };
