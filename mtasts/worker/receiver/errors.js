// The two ways a request goes wrong on the sender's side; anything else thrown is ours (a 503).

export class Rejected extends Error {
  // A request refused before anything was stored: answered with status and a one-line reason.
  constructor(status, reason, headers) {
    super(reason);
    this.status = status;
    this.headers = headers || {};
  }
}

export class Unparsable extends Error {
  // A submission that was read and archived, but is not a usable report.
  constructor(reason, status = 400) {
    super(reason);
    this.status = status;
  }
}
