// better-sqlite3 13 installed under an alias (see driver.ts): the same API as @types/better-sqlite3.
declare module 'better-sqlite3-napi' {
  import Database from 'better-sqlite3';
  export = Database;
}
