/** A board directory's state as one object: state.json, and in layout 2 every shard's tasks put back in it. */
export function boardOnDisk(dir: string): any;
/** The texts of every version of the board's event files, state.json and task shards that git has in `repo`. */
export function boardBlobs(repo: string): { events: string[]; states: string[]; shards: string[] };
