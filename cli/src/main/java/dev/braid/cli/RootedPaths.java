package dev.braid.cli;

import dev.braid.RemoteException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import static dev.braid.cli.FileProtocol.ERR_IO;
import static dev.braid.cli.FileProtocol.ERR_NOT_FOUND;
import static dev.braid.cli.FileProtocol.ERR_PATH_REFUSED;
import static dev.braid.cli.FileProtocol.ERR_WRONG_KIND;
import static dev.braid.cli.FileProtocol.error;

/**
 * Confines the paths clients name to the served root. A requested path is relative and '/'-separated; it is
 * refused if absolute, if any segment is "..", or if its real path (symbolic links followed) is outside the
 * root. A path to be created is checked through its parent's real path. Errors name the path as the client
 * sent it, never the server's own directories.
 *
 * <p>Not proof against a local user who swaps a directory for a symbolic link between the check and the
 * open (that would need openat with O_NOFOLLOW, which the JDK does not offer). Thread-safe (immutable).
 */
final class RootedPaths {
    private final Path root;
    /** The root as the JDK may spell it in a message: its real path, and the path it was given as. */
    private final java.util.List<String> rootSpellings;

    /** @param root the served directory; must exist */
    RootedPaths(final Path root) throws IOException {
        this.root = root.toRealPath();
        if (!Files.isDirectory(this.root)) {
            throw new NotDirectoryException(root.toString());
        }
        this.rootSpellings = java.util.stream.Stream.of(this.root.toString(), root.toAbsolutePath().normalize().toString())
                .filter(r -> r.length() > 1).distinct().sorted(java.util.Comparator.comparingInt(String::length).reversed())
                .toList();
    }

    Path root() {
        return root;
    }

    /** The lexical checks: the path inside the root, not yet resolved on disk; its length and depth bounded. */
    private Path lexical(final String requested) {
        if (requested.indexOf('\0') >= 0) {
            throw refused(requested, "it contains a NUL character");
        }
        if (requested.startsWith("/")) {
            throw refused(requested, "absolute paths are not allowed (paths are relative to the served root)");
        }
        if (requested.getBytes(StandardCharsets.UTF_8).length > FileProtocol.MAX_PATH_BYTES) {
            throw refused(shortened(requested), "it is longer than " + FileProtocol.MAX_PATH_BYTES + " bytes");
        }
        int depth = 0;
        for (String segment : requested.split("/")) {
            if (segment.equals("..")) {
                throw refused(shortened(requested), "'..' is not allowed");
            }
            if (segment.getBytes(StandardCharsets.UTF_8).length > FileProtocol.MAX_NAME_BYTES) {
                throw refused(shortened(requested), "a name in it is longer than " + FileProtocol.MAX_NAME_BYTES
                        + " bytes");
            }
            if (!segment.isEmpty() && !segment.equals(".") && ++depth > FileProtocol.MAX_PATH_DEPTH) {
                throw refused(shortened(requested), "it is more than " + FileProtocol.MAX_PATH_DEPTH
                        + " levels deep");
            }
        }
        final Path p = root.resolve(requested.isEmpty() ? "." : requested).normalize();
        if (!p.startsWith(root)) {
            throw refused(requested, "it is outside the served root");
        }
        return p;
    }

    /** A path as a message quotes it: at most 200 characters (a 4 KiB name would drown the message). */
    static String shortened(final String requested) {
        return requested.length() <= 200 ? requested
                : requested.substring(0, 100) + "..." + requested.substring(requested.length() - 60)
                + " (" + requested.length() + " characters)";
    }

    /** An existing file or directory, symbolic links followed and confined. */
    Path existing(final String requested) {
        final Path p = lexical(requested);
        final Path real;
        try {
            real = p.toRealPath();
        } catch (IOException e) {
            throw describe(requested, e);
        }
        if (!real.startsWith(root)) {
            throw refused(requested, "it leads outside the served root through a symbolic link");
        }
        return real;
    }

    /**
     * A file to be created (or replaced) by an upload, checked but not created, and its missing parent
     * directories not created either: {@link NewFile#commit} creates them once the data has arrived.
     */
    NewFile forCreate(final String requested) {
        final Path p = lexical(requested);
        if (p.equals(root) || p.getFileName() == null) {
            throw error(ERR_WRONG_KIND, "'" + requested + "' names the served root, not a file");
        }
        // the deepest ancestor that exists must really be a directory inside the root
        Path existingAncestor = p.getParent();
        while (!Files.exists(existingAncestor, LinkOption.NOFOLLOW_LINKS)) {
            existingAncestor = existingAncestor.getParent();
        }
        final Path ancestor;
        try {
            ancestor = existingAncestor.toRealPath();
        } catch (IOException e) {
            throw describe(requested, e);
        }
        if (!ancestor.startsWith(root)) {
            throw refused(requested, "it leads outside the served root through a symbolic link");
        }
        if (!Files.isDirectory(ancestor)) {
            throw error(ERR_WRONG_KIND, "'" + requested + "': '" + relative(ancestor) + "' is not a directory");
        }
        final Path rest = existingAncestor.relativize(p); // the missing directories, then the file's name
        final Path target = ancestor.resolve(rest.toString());
        if (rest.getNameCount() == 1) { // the parent exists: look at the target itself
            if (Files.isSymbolicLink(target)) {
                try {
                    if (!target.toRealPath().startsWith(root)) {
                        throw refused(requested, "it is a symbolic link leading outside the served root");
                    }
                } catch (NoSuchFileException dangling) {
                    throw refused(requested, "it is a dangling symbolic link");
                } catch (IOException e) {
                    throw describe(requested, e);
                }
            }
            if (Files.isDirectory(target)) {
                throw error(ERR_WRONG_KIND, "'" + requested + "' is a directory");
            }
        }
        return new NewFile(requested, target, ancestor);
    }

    /** Serialises commits, so that one failing upload's clean-up cannot remove a directory another one uses. */
    private final Object commits = new Object();

    /**
     * A file an upload will create: {@link #target} inside the root, whose parent may not exist yet, and
     * {@link #existingDir}, the deepest existing directory on the way (where the temporary file goes, so
     * that the final move stays on one file system). Thread-safe (immutable; commits are serialised).
     */
    final class NewFile {
        final String requested;
        final Path target;
        final Path existingDir;

        private NewFile(final String requested, final Path target, final Path existingDir) {
            this.requested = requested;
            this.target = target;
            this.existingDir = existingDir;
        }

        /**
         * Creates the missing parent directories, checks again that the parent is inside the root, and moves
         * {@code tmp} (a file in {@link #existingDir}) to the target atomically, replacing it. If anything
         * fails, the directories this call created are removed again (when still empty).
         *
         * @throws dev.braid.RemoteException the failure, naming the client's path only
         */
        void commit(final Path tmp) {
            synchronized (commits) {
                final java.util.ArrayList<Path> created = new java.util.ArrayList<>();
                boolean done = false;
                try {
                    final Path missing = existingDir.relativize(target.getParent());
                    Path d = existingDir;
                    for (Path segment : missing.toString().isEmpty() ? java.util.List.<Path>of() : missing) {
                        d = d.resolve(segment.toString());
                        try {
                            Files.createDirectory(d);
                            created.add(d);
                        } catch (FileAlreadyExistsException e) { // another upload made it meanwhile
                            if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                                throw e;
                            }
                        }
                    }
                    if (!target.getParent().toRealPath().startsWith(root)) {
                        throw refused(requested, "it leads outside the served root through a symbolic link");
                    }
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                    done = true;
                } catch (IOException e) {
                    throw describe(requested, e);
                } finally {
                    if (!done) {
                        for (int i = created.size() - 1; i >= 0; i--) {
                            try {
                                Files.deleteIfExists(created.get(i));
                            } catch (IOException ignored) {
                                // not empty any more (or gone): leave it
                            }
                        }
                    }
                }
            }
        }
    }

    /** The name a client sees for {@code real} (a path inside the root). */
    String relative(final Path real) {
        final String s = root.relativize(real).toString().replace('\\', '/');
        return s.isEmpty() ? "." : s;
    }

    static RemoteException refused(final String requested, final String why) {
        return error(ERR_PATH_REFUSED, "path '" + requested + "' refused: " + why);
    }

    /**
     * The client's view of an I/O failure on {@code requested}: a code and a message that names the path as
     * the client sent it. The exception's own message is never passed on as it is, because the JDK puts the
     * server's absolute paths in it ({@code FileSystemException} messages start with the file's full path);
     * only its reason ("File name too long") goes out, with any mention of the root removed.
     */
    RemoteException describe(final String requested, final IOException e) {
        final String quoted = "'" + shortened(requested) + "'";
        if (e instanceof NoSuchFileException) {
            return error(ERR_NOT_FOUND, quoted + ": no such file or directory");
        }
        if (e instanceof AccessDeniedException) {
            return error(ERR_IO, quoted + ": permission denied");
        }
        if (e instanceof FileAlreadyExistsException) {
            return error(ERR_WRONG_KIND, quoted + ": a file is in the way");
        }
        if (e instanceof NotDirectoryException) {
            return error(ERR_WRONG_KIND, quoted + ": not a directory");
        }
        return error(ERR_IO, quoted + ": " + reason(e));
    }

    /** What went wrong, without the server's paths: the reason of a FileSystemException, else the message. */
    String reason(final Throwable e) {
        String why = e instanceof FileSystemException f ? f.getReason() : e.getMessage();
        if (why == null || why.isBlank()) {
            why = e.getClass().getSimpleName();
        }
        return scrub(why);
    }

    /** {@code text} with every mention of the root's path (real or as given) replaced by "<root>". */
    String scrub(final String text) {
        String s = text;
        for (String r : rootSpellings) {
            s = s.replace(r, "<root>");
        }
        return s;
    }
}
