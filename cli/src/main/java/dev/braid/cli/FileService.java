package dev.braid.cli;

import dev.braid.BraidStream;
import dev.braid.IncomingCall;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static dev.braid.cli.FileProtocol.ERR_BAD_REQUEST;
import static dev.braid.cli.FileProtocol.ERR_IO;
import static dev.braid.cli.FileProtocol.ERR_WRONG_KIND;
import static dev.braid.cli.FileProtocol.error;

/**
 * The file procedures of {@code braid serve}: LIST, DOWNLOAD, UPLOAD (see {@link FileProtocol}). Each
 * handler runs on its own virtual thread (braid's default for blocking handlers); the service keeps no
 * per-call state, so it is thread-safe.
 */
final class FileService {
    /** A listing larger than this is refused (the reply must fit braid's 32 MiB message limit). */
    static final int MAX_LIST_ENTRIES = 100_000;

    private final RootedPaths paths;
    private final java.util.function.Consumer<String> log;

    /** @param log takes one line per transfer (from many threads at once: it must be thread-safe) */
    FileService(final RootedPaths paths, final java.util.function.Consumer<String> log) {
        this.paths = paths;
        this.log = log;
    }

    private void logged(final String what, final IncomingCall call, final String path, final long bytes,
                        final long startNanos, final Throwable failure) {
        final double secs = Math.max(1e-3, (System.nanoTime() - startNanos) / 1e9);
        log.accept(String.format(java.util.Locale.ROOT, "%s %s %s: %s", call.peer().remoteAddress(), what, path,
                failure == null ? Progress.size(bytes) + " in " + String.format(java.util.Locale.ROOT, "%.1f s", secs)
                        : "failed: " + Endpoints.describe(failure)));
    }

    void list(final IncomingCall call) {
        final ByteBuffer a = call.args();
        final String requested = FileProtocol.readString(a);
        final boolean recursive = (a.getInt() & FileProtocol.FLAG_RECURSIVE) != 0;
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
        } catch (IOException | java.io.UncheckedIOException e) {
            throw RootedPaths.describe(requested, e instanceof IOException io ? io
                    : ((java.io.UncheckedIOException) e).getCause());
        }
    }

    private static FileProtocol.Entry entry(final Path p, final String name) throws IOException {
        final BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        final int kind = a.isRegularFile() ? FileProtocol.KIND_FILE : a.isDirectory() ? FileProtocol.KIND_DIRECTORY
                : a.isSymbolicLink() ? FileProtocol.KIND_SYMLINK : FileProtocol.KIND_OTHER;
        return new FileProtocol.Entry(kind, a.size(), a.lastModifiedTime().toMillis(), name);
    }

    /** DOWNLOAD: accepts once the file is open, sends it (holes when asked), then finishes. */
    void download(final IncomingCall call, final BraidStream stream) throws Exception {
        final ByteBuffer a = call.args();
        final String requested = FileProtocol.readString(a);
        final boolean sparse = (a.getInt() & FileProtocol.FLAG_SPARSE) != 0;
        final Path p = paths.existing(requested);
        if (!Files.isRegularFile(p)) {
            throw error(ERR_WRONG_KIND, "'" + requested + "' is not a regular file"
                    + (Files.isDirectory(p) ? " (a directory: get it whole with braid get)" : ""));
        }
        final FileChannel ch;
        try {
            ch = FileChannel.open(p, StandardOpenOption.READ);
        } catch (IOException e) {
            throw RootedPaths.describe(requested, e);
        }
        final long start = System.nanoTime();
        final AtomicLong sent = new AtomicLong();
        try (ch) {
            call.reply(new byte[0]);
            try {
                Transfers.send(ch, stream, sparse, sent, new Transfers.Pace(0));
            } catch (IOException e) {
                throw error(ERR_IO, "reading '" + requested + "' failed: " + e.getMessage());
            }
            stream.finish();
            logged("get", call, requested, sent.get(), start, null);
        } catch (Exception e) {
            logged("get", call, requested, sent.get(), start, e);
            throw e;
        }
    }

    /**
     * UPLOAD: receives into a temporary file next to the target. Once the client's end has arrived (its
     * {@code finish()} sent OK) the file is forced to disk and moved into place atomically, and only then
     * does this side confirm with its own OK, so the client's {@code finish()} returns only once the file is
     * in place and reports the error if the move failed. Any failure or abort deletes the temporary file.
     */
    void upload(final IncomingCall call, final BraidStream stream) throws Exception {
        final ByteBuffer a = call.args();
        final String requested = FileProtocol.readString(a);
        a.getInt(); // flags: holes are always written as holes
        final long announced = a.getLong();
        if (announced < -1) {
            throw error(ERR_BAD_REQUEST, "malformed request: size " + announced);
        }
        final Path target = paths.forCreate(requested);
        final Path tmp;
        try {
            tmp = Transfers.createTemp(target);
        } catch (IOException e) {
            throw RootedPaths.describe(requested, e);
        }
        boolean moved = false;
        final long start = System.nanoTime();
        final AtomicLong received = new AtomicLong();
        try {
            call.reply(new byte[0]);
            try (RandomAccessFile raf = new RandomAccessFile(tmp.toFile(), "rw")) {
                Transfers.receive(stream, raf, received, new Transfers.Pace(0));
            } catch (IOException e) {
                throw error(ERR_IO, "writing '" + requested + "' failed: " + e.getMessage());
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                moved = true;
            } catch (IOException e) {
                throw RootedPaths.describe(requested, e);
            }
            stream.finish();
            logged("put", call, requested, received.get(), start, null);
        } catch (Exception e) {
            logged("put", call, requested, received.get(), start, e);
            throw e;
        } finally {
            if (!moved) {
                Files.deleteIfExists(tmp);
            }
        }
    }
}
