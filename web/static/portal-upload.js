// The portal's records uploader: each part of the file goes straight to S3 on a presigned URL
// (S3 multipart), checked there against the SHA-256 this page computes for it; the whole file's
// SHA-256 is computed as the parts are read (hash-wasm, whose state can be saved) and the service
// verifies it against the stored object. An upload survives a dropped connection (parts are
// retried) and a closed tab: localStorage keeps the upload id and the hash state under the file's
// name, size and date, and choosing the same file again resumes from the parts S3 already holds.
// The file's name is sent only in request bodies, never in a URL.
"use strict";

(function () {
  const RETRY_DELAYS = [1000, 2000, 5000, 10000, 20000];
  const STORE = "caseflow-upload:";

  function b64(bytes) {
    let text = "";
    const view = new Uint8Array(bytes);
    for (let i = 0; i < view.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, view.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }
  function unb64(text) {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  class Refused extends Error {}

  class Uploader {
    constructor(root) {
      this.root = root;
      this.csrf = root.dataset.csrf;
      this.words = JSON.parse(root.querySelector("script[type='application/json']").textContent);
      this.form = root.querySelector("form");
      this.bar = root.querySelector("progress");
      this.status = root.querySelector("[data-status]");
      this.percent = root.querySelector("[data-percent]");
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        const file = this.form.elements.file.files[0];
        if (file) this.run(file, this.form.elements.kind.value);
      });
    }

    say(text, state) {
      this.status.textContent = text;
      this.root.dataset.state = state;
    }

    show(done, total) {
      const share = total ? Math.floor((done / total) * 1000) / 10 : 0;
      this.bar.max = 100;
      this.bar.value = share;
      this.percent.textContent = share.toFixed(1) + " %";
    }

    async api(method, path, body) {
      for (let attempt = 0; ; attempt++) {
        let answer;
        try {
          answer = await fetch(path, {
            method,
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": this.csrf },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
        } catch (error) {
          await this.waitForNetwork(attempt);
          continue;
        }
        if (answer.status >= 500 && attempt < RETRY_DELAYS.length) {
          await sleep(RETRY_DELAYS[attempt]);
          continue;
        }
        const data = answer.status === 204 ? {} : await answer.json();
        if (!answer.ok) throw new Refused(data.error || answer.statusText);
        return data;
      }
    }

    async waitForNetwork(attempt) {
      this.say(this.words.offline, "waiting");
      await sleep(RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)]);
    }

    // One part's PUT to S3 with its checksum, reporting bytes sent; retried until it lands.
    putPart(url, checksum, body, onProgress) {
      return new Promise((resolve, reject) => {
        const request = new XMLHttpRequest();
        request.open("PUT", url);
        request.setRequestHeader("x-amz-checksum-sha256", checksum);
        request.upload.onprogress = (event) => onProgress(event.loaded);
        request.onload = () =>
          request.status === 200 ? resolve() : reject(new Error("part refused " + request.status));
        request.onerror = () => reject(new Error("network"));
        request.send(body);
      });
    }

    partUrl(upload, number, checksum) {
      return this.api(
        "POST", `/portal/uploads/${upload.upload_id}/parts/${number}`, { sha256: checksum });
    }

    // `url` was presigned ahead (while earlier parts were still being sent); a retry asks again.
    async sendPart(upload, number, buffer, checksum, progress, url) {
      for (let attempt = 0; ; attempt++) {
        if (attempt > 0 || !url) ({ url } = await this.partUrl(upload, number, checksum));
        try {
          await this.putPart(url, checksum, buffer, (sent) => progress(number, sent));
          return;
        } catch (error) {
          progress(number, 0);
          if (String(error.message).startsWith("part refused 4") && attempt >= 2) throw error;
          await this.waitForNetwork(attempt);
          this.say(this.words.uploading, "uploading");
        }
      }
    }

    async begin(file, kind, key) {
      const head = await file.slice(0, 65536).arrayBuffer();
      const upload = await this.api("POST", "/portal/uploads", {
        kind, size: file.size, file_name: file.name, head: b64(head),
      });
      localStorage.setItem(key, JSON.stringify({ uploadId: upload.upload_id, hashed: 0 }));
      return { upload, saved: { uploadId: upload.upload_id, hashed: 0 } };
    }

    async resume(key) {
      const saved = JSON.parse(localStorage.getItem(key) || "null");
      if (!saved) return null;
      try {
        const upload = await this.api("GET", `/portal/uploads/${saved.uploadId}`);
        if (upload.state === "uploading") return { upload, saved };
      } catch (error) {
        if (!(error instanceof Refused)) throw error;
      }
      localStorage.removeItem(key);
      return null;
    }

    async run(file, kind) {
      this.form.querySelector("button").disabled = true;
      const key = STORE + [file.name, file.size, file.lastModified].join(":");
      try {
        let found = await this.resume(key);
        this.say(found ? this.words.resuming : this.words.starting, "uploading");
        if (!found) found = await this.begin(file, kind, key);
        const { upload, saved } = found;
        await this.upload(file, upload, saved, key);
        this.say(this.words.verifying, "verifying");
        const hasher = this.hasher;
        const done = await this.api("POST", `/portal/uploads/${upload.upload_id}/completion`, {
          sha256: hasher.digest("hex"), file_name: file.name, part_sha256: saved.sums || [],
        });
        localStorage.removeItem(key);
        this.show(1, 1);
        this.root.dataset.documentId = done.document_id;
        this.say(this.words.done, "done");
      } catch (error) {
        this.say(this.words.failed + " " + error.message, "failed");
      } finally {
        this.form.querySelector("button").disabled = false;
      }
    }

    async upload(file, upload, saved, key) {
      const hasher = (this.hasher = await hashwasm.createSHA256());
      if (saved.hashed > 0 && saved.state) hasher.load(unb64(saved.state));
      else saved.hashed = 0;
      const stored = new Set(upload.parts_done);
      const sizeOf = (n) => Math.min(upload.part_size, upload.size - (n - 1) * upload.part_size);
      const sent = new Map();
      let landed = 0;
      for (const n of stored) landed += sizeOf(n);
      const progress = (number, bytes) => {
        sent.set(number, bytes);
        let total = landed;
        for (const value of sent.values()) total += value;
        this.show(total, upload.size);
      };
      progress(0, 0);
      this.say(stored.size ? this.words.resuming : this.words.uploading, "uploading");
      const inFlight = new Set();
      // Each part is hashed and presigned while the parts before it are still on the wire, so a
      // free slot starts its PUT at once (one part more than the slots is held for that).
      // Each part's checksum is kept with the upload's saved state before the part is sent, so
      // the completion can name every part's, even after the tab was closed and reopened.
      saved.sums = saved.sums || [];
      const launch = async (n, buffer) => {
        const checksum = b64(await crypto.subtle.digest("SHA-256", buffer));
        saved.sums[n - 1] = checksum;
        localStorage.setItem(key, JSON.stringify(saved));
        const { url } = await this.partUrl(upload, n, checksum);
        // As many parts at once as the service says (settings.portal_upload_concurrency).
        while (inFlight.size >= (upload.concurrency || 1)) {
          await Promise.race(inFlight);
        }
        const job = this.sendPart(upload, n, buffer, checksum, progress, url).then(() => {
          sent.delete(n);
          landed += sizeOf(n);
          stored.add(n);
          progress(0, 0);
        });
        inFlight.add(job);
        job.finally(() => inFlight.delete(job)).catch(() => {});
      };
      const read = (n) =>
        file.slice((n - 1) * upload.part_size, (n - 1) * upload.part_size + sizeOf(n)).arrayBuffer();
      // Parts already hashed on an earlier visit but not yet in S3: send them again.
      for (let n = 1; n <= saved.hashed; n++) {
        if (!stored.has(n)) await launch(n, await read(n));
      }
      for (let n = saved.hashed + 1; n <= upload.part_count; n++) {
        const buffer = await read(n);
        hasher.update(new Uint8Array(buffer));
        saved.hashed = n;
        saved.state = b64(hasher.save());
        localStorage.setItem(key, JSON.stringify(saved));
        if (!stored.has(n)) await launch(n, buffer);
      }
      while (inFlight.size) await Promise.all(inFlight);
    }
  }

  document.querySelectorAll("[data-uploader]").forEach((root) => new Uploader(root));
})();
