package dev.braid.cli;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.IncomingCall;
import dev.braid.RemoteException;
import dev.braid.buffer.BufferPool;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static dev.braid.cli.FileProtocol.ERR_BAD_REQUEST;
import static dev.braid.cli.FileProtocol.ERR_IO;
import static dev.braid.cli.FileProtocol.ERR_LIMIT;
import static dev.braid.cli.FileProtocol.ERR_WRONG_KIND;
import static dev.braid.cli.FileProtocol.error;

/**
 * The file procedures of {@code braid serve}: LIST, DOWNLOAD, UPLOAD (see {@link FileProtocol}), within
 * {@link ServeLimits}.
 *
 * <p>Every request is answered as docs/cli.md says: a malformed one with code 6, a refused path with the
 * client's path only (never the server's root, see {@link RootedPaths#describe}), a transfer beyond a limit
 * with code 7. A failure nobody expected is answered with code 4 and its reason, scrubbed of the root.
 *
 * <p>Each handler runs on its own virtual thread (braid's default for blocking handlers); the service keeps
 * no per-call state of its own (transfers in progress live in the {@link TransferGate}), so it is
 * thread-safe.
 */
final class FileService {
    /** A listing larger than this is refused (the reply must fit braid's 32 MiB message limit). */
    static final int MAX_LIST_ENTRIES = 100_000;

    private final RootedPaths paths;
    private final ServeLimits limits;
    private final TransferGate gate;
    private final BufferPool pool;
    private final java.util.function.Consumer<String> log;

    /**
     * @param pool the server's buffer pool: downloads read their files into blocks lent by it
     * @param log  takes one line per transfer (from many threads at once: it must be thread-safe)
     */
    FileService(final RootedPaths paths, final ServeLimits limits, final TransferGate gate, final BufferPool pool,
                final java.util.function.Consumer<String> log) {
        this.paths = paths;
        this.limits = limits;
        this.gate = gate;
        this.pool = pool;
        this.log = log;
    }

    private void logged(final String what, final IncomingCall call, final String path, final long bytes,
                        final long startNanos, final Throwable failure) {
        final double secs = Math.max(1e-3, (System.nanoTime() - startNanos) / 1e9);
        log.accept(String.format(java.util.Locale.ROOT, "%s %s %s: %s", call.peer().remoteAddress(), what,
                RootedPaths.shortened(path), failure == null ? Progress.size(bytes) + " in "
                        + String.format(java.util.Locale.ROOT, "%.1f s", secs)
                        : "failed: " + Endpoints.describe(failure)));
    }

    /** A request's handler, which may fail in ways {@link #answered} turns into documented errors. */
    @FunctionalInterface
    private interface Body {
        void run() throws Exception;
    }

    /**
     * Runs {@code body}, letting through what is already an answer ({@link RemoteException}, and a stream's
     * own failure, {@link BraidException}, whose message carries no server path), and turning anything
     * else into a code 4 error that names only what the client asked for.
     */
    private void answered(final String request, final String requested, final Body body) throws Exception {
        try {
            body.run();
        } catch (BraidException | InterruptedException e) { // RemoteException included
            throw e;
        } catch (IOException e) {
            throw paths.describe(requested == null ? request : requested, e);
        } catch (Exception e) {
            throw error(ERR_IO, request + (requested == null ? "" : " '" + RootedPaths.shortened(requested) + "'")
                    + " failed on the server: " + e.getClass().getSimpleName() + ": " + paths.reason(e));
        }
    }

    void list(final IncomingCall call) throws Exception {
        final FileProtocol.Args a = new FileProtocol.Args(call.args(), "LIST arguments");
        final String requested = a.string("path");
        final boolean recursive = (a.u32("flags") & FileProtocol.FLAG_RECURSIVE) != 0;
        answered("LIST", requested, () -> listChecked(call, requested, recursive));
    }

    private void listChecked(final IncomingCall call, final String requested, final boolean recursive)
            throws IOException {
        final Path p = paths.existing(requested);
        try {
            final List<FileProtocol.Entry> entries = new ArrayList<>();
            final int kind;
            if (Files.isDirectory(p)) {
                kind = FileProtocol.KIND_DIRECTORY;
                try (Stream<Path> s = recursive ? Files.walk(p).skip(1) : Files.list(p)) {
                    for (Path child : (Iterable<Path>) s::iterator) {
                        if (entries.size() == MAX_LIST_ENTRIES) {
                            throw error(ERR_WRONG_KIND, "'" + requested + "' holds more than " + MAX_LIST_ENTRIES
                                    + " entries; list a subdirectory");
                        }
                        entries.add(entry(child, p.relativize(child).toString().replace('\\', '/')));
                    }
                }
                entries.sort(Comparator.comparing(FileProtocol.Entry::name));
            } else {
                final FileProtocol.Entry self = entry(p, p.getFileName().toString());
                kind = self.kind();
                entries.add(self);
            }
            call.reply(FileProtocol.encode(new FileProtocol.Listing(kind, entries)));
        } catch (java.io.UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private static FileProtocol.Entry entry(final Path p, final String name) throws IOException {
        final BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        final int kind = a.isRegularFile() ? FileProtocol.KIND_FILE : a.isDirectory() ? FileProtocol.KIND_DIRECTORY
                : a.isSymbolicLink() ? FileProtocol.KIND_SYMLINK : FileProtocol.KIND_OTHER;
        return new FileProtocol.Entry(kind, a.size(), a.lastModifiedTime().toMillis(), name);
    }

    /**
     * DOWNLOAD: admitted by the gate (code 7 when the server is busy), accepted once the file is open, sent
     * (holes when asked) through a pooled block, then finished. A reader that takes nothing for the stall
     * timeout gets the stream aborted by the gate's watchdog.
     */
    void download(final IncomingCall call, final BraidStream stream) throws Exception {
        final FileProtocol.Args a = new FileProtocol.Args(call.args(), "DOWNLOAD arguments");
        final String requested = a.string("path");
        final int flags = a.u32("flags");
        final boolean sparse = (flags & FileProtocol.FLAG_SPARSE) != 0;
        final long offset = (flags & FileProtocol.FLAG_RESUME) != 0 ? a.hyper("offset") : -1;
        answered("DOWNLOAD", requested, () -> downloadChecked(call, stream, requested, sparse, offset));
    }

    /** @param offset where a resumed download starts, or -1 for a plain download */
    private void downloadChecked(final IncomingCall call, final BraidStream stream, final String requested,
                                 final boolean sparse, final long offset) throws Exception {
        final Path p = paths.existing(requested);
        if (!Files.isRegularFile(p)) {
            throw error(ERR_WRONG_KIND, "'" + requested + "' is not a regular file"
                    + (Files.isDirectory(p) ? " (a directory: get it whole with braid get)" : ""));
        }
        try (TransferGate.Ticket ticket = gate.admit(call.peer(), stream, "get " + RootedPaths.shortened(requested))) {
            final FileChannel ch = FileChannel.open(p, StandardOpenOption.READ);
            final long start = System.nanoTime();
            try (ch) {
                if (offset >= 0) {
                    final long size = ch.size();
                    if (offset > size) {
                        throw error(ERR_BAD_REQUEST, "cannot resume '" + RootedPaths.shortened(requested)
                                + "' at offset " + offset + ": the file has " + size + " bytes");
                    }
                    ch.position(offset);
                    call.reply(java.nio.ByteBuffer.allocate(8).putLong(0, offset));
                } else {
                    call.reply(new byte[0]);
                }
                final byte[] digest;
                try {
                    Transfers.send(ch, stream, sparse, ticket.progress, new Transfers.Pace(0), pool);
                    digest = offset >= 0 ? Transfers.sha256(ch) : null; // the whole file, for the client's check
                } catch (IOException e) {
                    throw error(ERR_IO, "reading '" + RootedPaths.shortened(requested) + "' failed: " + paths.reason(e));
                }
                if (digest != null) {
                    stream.finish(java.nio.ByteBuffer.wrap(digest));
                } else {
                    stream.finish();
                }
                logged("get", call, requested, ticket.progress.get(), start, null);
            } catch (Exception e) {
                logged("get", call, requested, ticket.progress.get(), start, e);
                throw e;
            }
        }
    }

    /**
     * UPLOAD: refused up front when the announced size exceeds the size limit or the free space, or when the
     * gate is full; then received into a temporary file in the deepest existing directory on the way. Once
     * the client's end has arrived (its {@code finish()} sent OK) the file is forced to disk, its missing
     * parent directories are created and it is moved into place atomically ({@link RootedPaths.NewFile#commit}),
     * and only then does this side confirm with its own OK, so the client's {@code finish()} returns only once
     * the file is in place and reports the error if the move failed. Any failure or abort deletes the
     * temporary file, and no directory is created for an upload that does not complete.
     */
    void upload(final IncomingCall call, final BraidStream stream) throws Exception {
        final FileProtocol.Args a = new FileProtocol.Args(call.args(), "UPLOAD arguments");
        final String requested = a.string("path");
        final boolean sparse = (a.u32("flags") & FileProtocol.FLAG_SPARSE) != 0;
        final long announced = a.hyper("size");
        if (announced < -1) {
            throw error(ERR_BAD_REQUEST, "malformed request: size " + announced);
        }
        answered("UPLOAD", requested, () -> uploadChecked(call, stream, requested, sparse, announced));
    }

    private void uploadChecked(final IncomingCall call, final BraidStream stream, final String requested,
                               final boolean sparse, final long announced) throws Exception {
        if (announced > limits.maxUploadSize()) {
            throw tooLarge(requested, announced);
        }
        final RootedPaths.NewFile target = paths.forCreate(requested);
        final long usable = usableSpace(target.existingDir);
        if (!sparse && announced > usable) {
            throw noSpace(requested, announced, usable);
        }
        try (TransferGate.Ticket ticket = gate.admit(call.peer(), stream, "put " + RootedPaths.shortened(requested))) {
            final Path tmp = Transfers.createTemp(target.existingDir, target.target.getFileName().toString());
            final long start = System.nanoTime();
            boolean committed = false;
            try {
                call.reply(new byte[0]);
                final Transfers.ReceiveGuard guard = (end, data) -> {
                    if (end < 0 || end > limits.maxUploadSize()) {
                        throw tooLarge(requested, end < 0 ? Long.MAX_VALUE : end);
                    }
                    if (data > usable) {
                        throw noSpace(requested, data, usable);
                    }
                };
                try (RandomAccessFile raf = new RandomAccessFile(tmp.toFile(), "rw")) {
                    Transfers.receive(stream, raf, ticket.progress, new Transfers.Pace(0), guard);
                } catch (IOException e) {
                    throw error(ERR_IO, "writing '" + RootedPaths.shortened(requested) + "' failed: " + paths.reason(e));
                }
                target.commit(tmp);
                committed = true;
                stream.finish();
                logged("put", call, requested, ticket.progress.get(), start, null);
            } catch (Exception e) {
                logged("put", call, requested, ticket.progress.get(), start, e);
                throw e;
            } finally {
                if (!committed) {
                    Files.deleteIfExists(tmp);
                }
            }
        }
    }

    private RemoteException tooLarge(final String requested, final long size) {
        return error(ERR_LIMIT, "'" + RootedPaths.shortened(requested) + "' is too large: " + Progress.size(size)
                + " (" + size + " bytes) exceeds the upload size limit (--max-upload-size = "
                + Progress.size(limits.maxUploadSize()) + ")");
    }

    private static RemoteException noSpace(final String requested, final long size, final long usable) {
        return error(ERR_LIMIT, "not enough free space for '" + RootedPaths.shortened(requested) + "': "
                + Progress.size(size) + " needed, " + Progress.size(usable) + " free on the server");
    }

    /** Bytes the file system says may still be written where {@code dir} lives; unlimited where it cannot tell. */
    private static long usableSpace(final Path dir) {
        try {
            final long u = Files.getFileStore(dir).getUsableSpace();
            return u <= 0 ? Long.MAX_VALUE : u; // some file systems (proc, some FUSE) report 0: no information
        } catch (IOException | UnsupportedOperationException e) {
            return Long.MAX_VALUE;
        }
    }
}
