package dev.braid.cli;

import dev.braid.RemoteException;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

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

    /** @param root the served directory; must exist */
    RootedPaths(final Path root) throws IOException {
        this.root = root.toRealPath();
        if (!Files.isDirectory(this.root)) {
            throw new NotDirectoryException(root.toString());
        }
    }

    Path root() {
        return root;
    }

    /** The lexical checks: the path inside the root, not yet resolved on disk. */
    private Path lexical(final String requested) {
        if (requested.indexOf('\0') >= 0) {
            throw refused(requested, "it contains a NUL character");
        }
        if (requested.startsWith("/")) {
            throw refused(requested, "absolute paths are not allowed (paths are relative to the served root)");
        }
        for (String segment : requested.split("/")) {
            if (segment.equals("..")) {
                throw refused(requested, "'..' is not allowed");
            }
        }
        final Path p = root.resolve(requested.isEmpty() ? "." : requested).normalize();
        if (!p.startsWith(root)) {
            throw refused(requested, "it is outside the served root");
        }
        return p;
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
     * Where a file named {@code requested} may be created (or replaced): its parent directories are created
     * as needed, inside the root only.
     */
    Path forCreate(final String requested) {
        final Path p = lexical(requested);
        if (p.equals(root) || p.getFileName() == null) {
            throw error(ERR_WRONG_KIND, "'" + requested + "' names the served root, not a file");
        }
        // the deepest ancestor that exists must really be inside the root, then create the rest
        Path existingAncestor = p.getParent();
        while (!Files.exists(existingAncestor, LinkOption.NOFOLLOW_LINKS)) {
            existingAncestor = existingAncestor.getParent();
        }
        final Path parent;
        try {
            if (!existingAncestor.toRealPath().startsWith(root)) {
                throw refused(requested, "it leads outside the served root through a symbolic link");
            }
            Files.createDirectories(p.getParent());
            parent = p.getParent().toRealPath();
        } catch (IOException e) {
            throw describe(requested, e);
        }
        if (!parent.startsWith(root)) {
            throw refused(requested, "it leads outside the served root through a symbolic link");
        }
        final Path target = parent.resolve(p.getFileName().toString());
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
        return target;
    }

    /** The name a client sees for {@code real} (a path inside the root). */
    String relative(final Path real) {
        final String s = root.relativize(real).toString().replace('\\', '/');
        return s.isEmpty() ? "." : s;
    }

    static RemoteException refused(final String requested, final String why) {
        return error(ERR_PATH_REFUSED, "path '" + requested + "' refused: " + why);
    }

    static RemoteException describe(final String requested, final IOException e) {
        if (e instanceof NoSuchFileException) {
            return error(ERR_NOT_FOUND, "'" + requested + "': no such file or directory");
        }
        if (e instanceof AccessDeniedException) {
            return error(ERR_IO, "'" + requested + "': permission denied");
        }
        if (e instanceof FileAlreadyExistsException) {
            return error(ERR_WRONG_KIND, "'" + requested + "': a file is in the way");
        }
        if (e instanceof NotDirectoryException) {
            return error(ERR_WRONG_KIND, "'" + requested + "': not a directory");
        }
        return error(ERR_IO, "'" + requested + "': " + e.getClass().getSimpleName()
                + (e.getMessage() == null ? "" : " " + e.getMessage()));
    }
}
