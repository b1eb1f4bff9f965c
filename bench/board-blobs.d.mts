/** The texts of every version of the board's event files and state.json that git has in `repo`. */
export function boardBlobs(repo: string): { events: string[]; states: string[] };
