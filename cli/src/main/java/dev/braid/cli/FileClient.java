package dev.braid.cli;

import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.RemoteException;
import dev.braid.StreamOptions;
import dev.braid.buffer.BufferPool;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * The client half of get, put and ls: a listing call, one download or upload per stream, and running many of
 * them at once on one connection. Thread-safe: every transfer runs on its own virtual thread and owns its
 * stream; the shared state is the set of temporary files (concurrent) that a shutdown hook deletes.
 */
final class FileClient {
    /** Temporary download files not yet renamed: deleted if the process is stopped (Ctrl-C, SIGTERM). */
    private static final Set<Path> TEMPS = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (Path p : TEMPS) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort on the way out
                }
            }
        }, "braid-temp-cleanup"));
    }

    private final Connection connection;
    private final BufferPool pool;
    private final boolean sparse;
    private final long rateLimit;
    /** get --resume: downloads go through {@link Transfers#resumeTemp} and continue what is there. */
    private final boolean resume;
    /** get --reconnect: how many times one file's download is resumed after it was cut off (0: never). */
    private int resumeRetries;
    /** Where the retries are announced (get --reconnect); null with no retries. */
    private PrintWriter notes;

    /** @param pool lends the blocks uploads read files into (the connection's braid's pool; null for listings only) */
    FileClient(final Connection connection, final BufferPool pool, final boolean sparse, final long rateLimit) {
        this(connection, pool, sparse, rateLimit, false);
    }

    /** @param resume downloads resume from (and, when interrupted, keep) their partial file */
    FileClient(final Connection connection, final BufferPool pool, final boolean sparse, final long rateLimit,
               final boolean resume) {
        this.connection = connection;
        this.pool = pool;
        this.sparse = sparse;
        this.rateLimit = rateLimit;
        this.resume = resume;
    }

    /**
     * get --reconnect: a resumed download cut off after its stream opened (the connection lost, the server
     * stopping) is resumed again, up to {@code retries} times per file, on the connection's next connection
     * (a {@link dev.braid.ReconnectingConnection} waits for it), each retry announced on {@code notes}.
     *
     * @return this client
     */
    FileClient resumingAfterLoss(final int retries, final PrintWriter notes) {
        this.resumeRetries = retries;
        this.notes = notes;
        return this;
    }

    static StreamOptions streamOptions() {
        return StreamOptions.waitForSlot(Duration.ofMinutes(10));
    }

    /** LIST; a missing path returns null when {@code missingOk}. */
    FileProtocol.Listing list(final String path, final boolean recursive, final boolean missingOk) {
        try {
            return FileProtocol.decodeListing(connection.call(FileProtocol.LIST,
                    FileProtocol.pathRequest(path, recursive ? FileProtocol.FLAG_RECURSIVE : 0)));
        } catch (RemoteException e) {
            if (missingOk && e.domain() == FileProtocol.ERROR_DOMAIN && e.code() == FileProtocol.ERR_NOT_FOUND) {
                return null;
            }
            throw Endpoints.failure(Endpoints.describe(e), e);
        }
    }

    /** A file to move: remote path, local path, size (for the progress total). */
    record Job(String remote, Path local, long size) {
    }

    /**
     * Downloads {@code remote} into a temporary file next to {@code local} and renames it to {@code local}
     * only after {@code finish()} succeeded; on any failure the temporary file is deleted.
     */
    void download(final Job job, final Progress progress) throws Exception {
        if (resume) {
            downloadResuming(job, progress);
            return;
        }
        final Path parent = job.local().toAbsolutePath().getParent();
        Files.createDirectories(parent);
        final Path tmp = Transfers.createTemp(job.local());
        TEMPS.add(tmp);
        BraidStream s = null;
        boolean done = false;
        try {
            s = connection.openStream(FileProtocol.DOWNLOAD, ByteBuffer.wrap(FileProtocol.pathRequest(job.remote(),
                    sparse ? FileProtocol.FLAG_SPARSE : 0)), streamOptions());
            try (RandomAccessFile raf = new RandomAccessFile(tmp.toFile(), "rw")) {
                Transfers.receive(s, raf, progress.bytes, new Transfers.Pace(rateLimit), Transfers.ReceiveGuard.NONE);
            }
            s.finish();
            Files.move(tmp, job.local(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
            progress.files.incrementAndGet();
        } catch (Exception e) {
            if (s != null) {
                s.abort("download failed on the client: " + Endpoints.describe(e));
            }
            throw e;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
            TEMPS.remove(tmp);
        }
    }

    /**
     * get --resume: continues {@link Transfers#resumeTemp}'s partial file from its length (the server answers
     * with the offset it starts from: 0 from a server that cannot resume, and the partial file then starts
     * over), checks the whole file against the SHA-256 the server ends the stream with, and renames it into
     * place. When the transfer fails the partial file is kept for the next {@code --resume} (a file that
     * fails the check is deleted: it was not a prefix of the server's file).
     */
    private void downloadResuming(final Job job, final Progress progress) throws Exception {
        for (int retry = 1; ; retry++) {
            final boolean[] opened = {false};
            final int connections = connection instanceof dev.braid.ReconnectingConnection rc ? rc.reconnects() : 0;
            try {
                downloadResumingOnce(job, progress, opened);
                return;
            } catch (Exception e) {
                // Retried, while the connection may still come back: a transfer cut off after its stream opened,
                // for a reason other than one of ours (a failed checksum, a bad offset: CliFailure); or an
                // opening lost with its connection (a download's opening only reads: sending it again is safe,
                // even if the lost one reached the server).
                final Throwable cause = e.getCause();
                final boolean lost = cause instanceof dev.braid.ConnectionClosedException;
                if (retry > resumeRetries || !connection.isOpen() || cause == null
                        || cause instanceof Endpoints.CliFailure || !(opened[0] || lost)) {
                    throw e;
                }
                final Path tmp = Transfers.resumeTemp(job.local());
                synchronized (notes) {
                    notes.println("braid: get " + job.remote() + ": cut off at " + (Files.exists(tmp) ? Files.size(tmp) : 0)
                            + " bytes (" + Endpoints.describe(e.getCause()) + "); resuming on the next connection ("
                            + retry + " of " + resumeRetries + ")");
                    notes.flush();
                }
                if (lost && connection instanceof dev.braid.ReconnectingConnection rc) {
                    // The loss may not have reached the connection yet: wait for the next one (or for the policy
                    // to give up), so the retry does not go to the connection that just failed.
                    while (rc.reconnects() == connections && rc.isOpen()) {
                        Thread.sleep(20);
                    }
                }
            }
        }
    }

    private void downloadResumingOnce(final Job job, final Progress progress, final boolean[] opened)
            throws Exception {
        final Path parent = job.local().toAbsolutePath().getParent();
        Files.createDirectories(parent);
        final Path tmp = Transfers.resumeTemp(job.local());
        final long have = Files.isRegularFile(tmp) ? Files.size(tmp) : 0;
        BraidStream s = null;
        try (RandomAccessFile raf = new RandomAccessFile(tmp.toFile(), "rw")) {
            s = connection.openStream(FileProtocol.DOWNLOAD, ByteBuffer.wrap(FileProtocol.downloadRequest(job.remote(),
                    (sparse ? FileProtocol.FLAG_SPARSE : 0) | FileProtocol.FLAG_RESUME, have)), streamOptions());
            opened[0] = true;
            final ByteBuffer opening = s.openingReply();
            final long from = opening.remaining() >= 8 ? opening.getLong(opening.position()) : 0; // 0: cannot resume
            if (from < 0 || from > have) {
                throw Endpoints.failure("the server offered to resume '" + job.remote() + "' at " + from + " but "
                        + have + " bytes are here", null);
            }
            raf.setLength(from);
            Transfers.receive(s, raf, from, progress.bytes, new Transfers.Pace(rateLimit), Transfers.ReceiveGuard.NONE);
            final ByteBuffer digest = s.finishAsync().get();
            s = null; // finished: nothing to abort
            if (digest.remaining() == FileProtocol.SHA256_LENGTH) {
                final byte[] mine = Transfers.sha256(raf.getChannel());
                final byte[] theirs = new byte[FileProtocol.SHA256_LENGTH];
                digest.duplicate().get(theirs);
                if (!java.util.Arrays.equals(mine, theirs)) {
                    Files.deleteIfExists(tmp); // still open here: fine on the file systems braid runs on (POSIX)
                    throw Endpoints.failure("'" + job.remote() + "' failed its checksum after resuming at byte " + from
                            + " (the partial file was not a prefix of the server's file, or the file changed): the "
                            + "partial file was deleted; run the command again", null);
                }
            } else if (from > 0) {
                throw Endpoints.failure("the server resumed '" + job.remote() + "' without a checksum", null);
            }
        } catch (Exception e) {
            if (s != null) {
                s.abort("download failed on the client: " + Endpoints.describe(e));
            }
            if (Files.exists(tmp)) {
                throw Endpoints.failure(Endpoints.describe(e) + " (partial file kept: " + tmp + ", "
                        + Files.size(tmp) + " bytes; run again with --resume)", e);
            }
            throw e;
        }
        Files.move(tmp, job.local(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        progress.files.incrementAndGet();
    }

    /** Uploads {@code local} to {@code remote}; the server renames its temporary file before confirming. */
    void upload(final Job job, final Progress progress) throws Exception {
        try (FileChannel ch = FileChannel.open(job.local(), StandardOpenOption.READ)) {
            final BraidStream s = connection.openStream(FileProtocol.UPLOAD, ByteBuffer.wrap(FileProtocol.uploadRequest(
                    job.remote(), sparse ? FileProtocol.FLAG_SPARSE : 0, ch.size())), streamOptions());
            try {
                Transfers.send(ch, s, sparse, progress.bytes, new Transfers.Pace(rateLimit), pool);
                s.finish();
                progress.files.incrementAndGet();
            } catch (Exception e) {
                s.abort("upload failed on the client: " + Endpoints.describe(e));
                throw e;
            }
        }
    }

    @FunctionalInterface
    interface Transfer {
        void run(Job job, Progress progress) throws Exception;
    }

    /**
     * Runs {@code jobs} with at most {@code parallel} streams at once on the one connection, reporting each
     * failure on one line to {@code err}.
     *
     * @return the number of jobs that failed
     */
    static int runAll(final List<Job> jobs, final int parallel, final Transfer transfer, final Progress progress,
                      final PrintWriter err, final String verb) throws InterruptedException {
        final Semaphore slots = new Semaphore(parallel);
        final List<Future<?>> futures = new ArrayList<>();
        int failed = 0;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Job job : jobs) {
                futures.add(pool.submit(() -> {
                    slots.acquire();
                    try {
                        transfer.run(job, progress);
                    } finally {
                        slots.release();
                    }
                    return null;
                }));
            }
            for (int i = 0; i < jobs.size(); i++) {
                try {
                    futures.get(i).get();
                } catch (java.util.concurrent.ExecutionException e) {
                    failed++;
                    final Job j = jobs.get(i);
                    synchronized (err) {
                        err.println("braid: " + verb + " " + j.remote() + " (" + j.local() + ") failed: "
                                + Endpoints.describe(e.getCause()));
                        err.flush();
                    }
                }
            }
        }
        return failed;
    }

    /**
     * The part {@code get} and {@code put} share once their jobs are listed: runs them with progress on
     * {@code err} (nothing with --quiet), prints the one-line summary ({@code direction}: "from" or "to"), and
     * fails naming how many files failed.
     *
     * @return 0 when every file moved
     */
    static int transferAll(final String verb, final String direction, final List<Job> jobs, final int skipped,
                           final Transfer transfer, final TransferOptions options, final String endpoint,
                           final PrintWriter out, final PrintWriter err) throws InterruptedException {
        final long total = jobs.stream().mapToLong(Job::size).sum();
        final Progress progress = new Progress(options.quiet ? new PrintWriter(java.io.Writer.nullWriter()) : err,
                verb, total, jobs.size(), Progress.isTerminal(), (long) (options.progressInterval * 1000));
        final int failed;
        try (progress) {
            failed = runAll(jobs, options.parallel, transfer, progress, err, verb);
        }
        out.printf(java.util.Locale.ROOT, "%s: %d of %d files, %s in %.1f s (%s/s) %s %s%s%n", verb,
                jobs.size() - failed, jobs.size(), Progress.size(progress.bytes.get()), progress.elapsedSeconds(),
                Progress.size((long) (progress.bytes.get() / Math.max(1e-3, progress.elapsedSeconds()))), direction,
                endpoint, skipped > 0 ? ", " + skipped + " skipped (links or special files)" : "");
        if (failed > 0) {
            throw Endpoints.failure(failed + " of " + jobs.size() + " files failed (see above)", null);
        }
        return 0;
    }

    /** {@code dir/name} in the server's '/'-separated namespace; "" and "." name the root. */
    static String join(final String dir, final String name) {
        if (dir.isEmpty() || dir.equals(".")) {
            return name;
        }
        return (dir.endsWith("/") ? dir.substring(0, dir.length() - 1) : dir) + "/" + name;
    }

    /** The last segment of a remote path ("" for the root). */
    static String baseName(final String remote) {
        String r = remote;
        while (r.endsWith("/")) {
            r = r.substring(0, r.length() - 1);
        }
        final String last = r.substring(r.lastIndexOf('/') + 1);
        return last.equals(".") ? "" : last;
    }
}
