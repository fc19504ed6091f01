// One of several processes racing to take a data directory's lock at the
// same instant. Prints "won" (and keeps the lock until it exits) or the error
// code it was refused with.
import { acquireLock } from "../../dist/ledger/lock.js";

const [dir, startAt, holdMs] = process.argv.slice(2);
while (Date.now() < Number(startAt)) {
  // spin: every racer starts within the same millisecond or so
}
try {
  acquireLock(dir);
  process.stdout.write("won\n");
  // Hold it until every other racer has given up, then die holding it (as a crash would).
  setTimeout(() => process.exit(0), Number(holdMs));
} catch (error) {
  process.stdout.write(`${error.code ?? error.message}\n`);
}
