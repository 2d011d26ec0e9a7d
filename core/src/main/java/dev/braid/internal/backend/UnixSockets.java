package dev.braid.internal.backend;

import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * What the backends share about Unix domain sockets: opening a channel of the address's family, and the
 * socket file's life around a listener. Stateless; any thread.
 *
 * <h2>The socket file</h2>
 * A server binds a path; the kernel creates the file with the process's umask, and its permissions are what
 * decides who may connect (put it in a directory only the intended users can enter). A server that crashed
 * leaves the file behind, and binding it again fails with "address in use". So before binding,
 * {@link #clearStale} looks at an existing file: a socket nobody accepts on (a connect is refused) is stale
 * and removed; a socket a live server accepts on is refused (two servers on one path would steal each
 * other's clients); anything else (a regular file, a directory, a symbolic link) is refused, never deleted.
 * Two servers starting on one path at the same instant may both find it stale: the second bind then fails.
 * {@link #removeAfterClose} deletes the file when the listener closes.
 */
public final class UnixSockets {
    private UnixSockets() {
    }

    /** {@return whether {@code a} is a Unix domain socket address} */
    public static boolean isUnix(final SocketAddress a) {
        return a instanceof UnixDomainSocketAddress;
    }

    /** A client channel of {@code remote}'s family (blocking, not connected). */
    public static SocketChannel openFor(final SocketAddress remote) throws IOException {
        return isUnix(remote) ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
    }

    /** A server channel of {@code local}'s family, a stale socket file cleared first (not bound). */
    public static ServerSocketChannel openServerFor(final SocketAddress local) throws IOException {
        if (local instanceof UnixDomainSocketAddress u) {
            clearStale(u);
            return ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        }
        return ServerSocketChannel.open();
    }

    /**
     * Before binding {@code address}: removes a stale socket file; refuses a file a live server accepts on,
     * and a file that is not a socket.
     *
     * @throws IOException naming the path and why it cannot be bound
     */
    public static void clearStale(final UnixDomainSocketAddress address) throws IOException {
        final Path path = address.getPath();
        final BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return; // nothing there
        }
        if (!attrs.isOther() || !isSocket(path)) {
            throw new IOException(path + " exists and is not a socket (" + (attrs.isDirectory() ? "a directory"
                    : attrs.isSymbolicLink() ? "a symbolic link" : attrs.isRegularFile() ? "a regular file"
                    : "a device or pipe") + "): not replacing it");
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(address);
        } catch (ConnectException e) {
            Files.deleteIfExists(path); // nobody accepts on it: a crashed server's leftover
            return;
        }
        throw new IOException(path + " is in use: a server accepts connections on it");
    }

    /** The file's type from its mode (S_IFSOCK), where the platform tells it; else "other" counts. */
    private static boolean isSocket(final Path path) {
        try {
            final int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            return (mode & 0170000) == 0140000;
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
            return true;
        }
    }

    /** After a listener on {@code address} closed: removes its socket file (best effort). */
    public static void removeAfterClose(final SocketAddress address) {
        if (address instanceof UnixDomainSocketAddress u) {
            try {
                Files.deleteIfExists(u.getPath());
            } catch (IOException e) {
                System.getLogger("dev.braid").log(System.Logger.Level.DEBUG, "cannot remove " + u.getPath(), e);
            }
        }
    }
}
