package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.RemoteException;
import dev.braid.StreamPacket;
import dev.braid.buffer.BufferPool;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code braid serve} under attack, in process: the server ({@link FileServer}, what the command runs) and
 * its clients on loopback, each side with its own {@link Braid} so that each side's pooled buffers are
 * counted apart. Every attack is bounded in count and time and waits on conditions, not on the clock; every
 * test ends with no pooled buffer outstanding on either side and no braid thread left.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServeLimitsTest {
    private static final int CLIENT_WINDOW = 64 * 1024;

    @TempDir
    Path base;

    private Path root;
    private FileServer server;
    private BufferPool serverPool;
    private Braid clients;
    private final List<String> log = new CopyOnWriteArrayList<>();

    private FileServer serve(final String backend, final ServeLimits limits) throws Exception {
        return serve(backend, limits, null);
    }

    private FileServer serve(final String backend, final ServeLimits limits, final String console) throws Exception {
        root = Files.createDirectories(base.resolve("root"));
        server = FileServer.start(root, new InetSocketAddress("127.0.0.1", 0), new BraidConfig().backend(backend),
                limits, console, log::add);
        serverPool = server.braid().bufferPool();
        // a small client window keeps what a stuck download holds (both sides, one JVM) small
        clients = Braid.create(new BraidConfig().backend(backend).initialStreamWindow(CLIENT_WINDOW));
        return server;
    }

    private FileServer serve(final ServeLimits limits) throws Exception {
        return serve("nio", limits);
    }

    @AfterEach
    void closeAndCheckLeaks() {
        if (clients != null) {
            final BufferPool clientPool = clients.bufferPool();
            clients.close();
            LeakChecks.assertNoOutstandingBuffers(clientPool);
        }
        if (server != null) {
            server.close();
            LeakChecks.assertNoOutstandingBuffers(serverPool);
        }
        LeakChecks.assertNoBraidThreads();
    }

    private Connection connect() {
        return clients.connect(server.address());
    }

    private static RemoteException remoteError(final Runnable r) {
        final RemoteException[] e = new RemoteException[1];
        assertThatThrownBy(r::run).isInstanceOfSatisfying(RemoteException.class, x -> e[0] = x);
        assertThat(e[0].domain()).as("brfs error domain: %s", e[0]).isEqualTo(FileProtocol.ERROR_DOMAIN);
        return e[0];
    }

    private static void await(final String what, final BooleanSupplier condition) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waiting for: %s", what).isLessThan(deadline);
            Thread.sleep(10);
        }
    }

    private Path file(final String name, final int size, final long seed) throws Exception {
        final byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        final Path p = root.resolve(name);
        Files.createDirectories(p.getParent());
        Files.write(p, b);
        return p;
    }

    /** Descriptors this process holds open on {@code p} (its own /proc/self/fd). */
    private static long openDescriptors(final Path p) throws Exception {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(p);
                } catch (Exception gone) {
                    return false;
                }
            }).count();
        }
    }

    private static long jvmDirectBytes() {
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals("direct")) {
                return b.getMemoryUsed();
            }
        }
        throw new IllegalStateException("no direct buffer pool bean");
    }

    private static String sha256(final byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static byte[] readAll(final BraidStream s) {
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (StreamPacket next = s.readPacket(); next != null; next = s.readPacket()) {
            try (StreamPacket p = next) {
                if (p.isHole()) {
                    out.writeBytes(new byte[(int) p.holeLength()]);
                } else {
                    final ByteBuffer d = p.data();
                    final byte[] b = new byte[d.remaining()];
                    d.get(b);
                    out.writeBytes(b);
                }
            }
        }
        s.finish();
        return out.toByteArray();
    }

    // ------------------------------------------------------------------ §2.1 slow readers

    /**
     * The slow-reader attack scaled down: 4 connections each open 8 downloads of an 8 MiB file and never
     * read. Before: all 32 were accepted, each holding an open file and a 256 KiB direct buffer of its own
     * outside the pool, for as long as the attacker liked. Now: only --max-transfers (8) are admitted, the
     * rest are refused at once naming the limit; those 8 hold at most 8 descriptors and take their blocks
     * from the pool; a well-behaved client is still answered; the watchdog aborts the stuck downloads after
     * --stall-timeout, after which the well-behaved client downloads the file whole.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"nio", "epoll", "loom"})
    void slowReadersAreBoundedAbortedAndDoNotStopOthers(final String backend) throws Exception {
        serve(backend, ServeLimits.DEFAULT.withTransfers(8, 8).withStallTimeout(Duration.ofMillis(1500)));
        final byte[] content = Files.readAllBytes(file("big", 8 << 20, 1));
        final Path big = root.resolve("big").toRealPath();

        final List<Connection> attackers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            final Connection c = connect();
            c.call(FileProtocol.LIST, FileProtocol.pathRequest("", 0)); // connected and served before measuring
            attackers.add(c);
        }
        final long directBefore = jvmDirectBytes() - serverPool.allocatedBytes() - clients.bufferPool().allocatedBytes();

        final List<BraidStream> stuck = new ArrayList<>();
        final List<RemoteException> refused = new ArrayList<>();
        for (Connection c : attackers) {
            for (int i = 0; i < 8; i++) {
                try {
                    stuck.add(c.openStream(FileProtocol.DOWNLOAD, FileProtocol.pathRequest("big", 0)));
                } catch (RemoteException e) {
                    refused.add(e);
                }
            }
        }
        assertThat(stuck).as("downloads admitted").hasSize(8);
        assertThat(refused).as("downloads refused").hasSize(24).allSatisfy(e -> {
            assertThat(e.code()).isEqualTo(FileProtocol.ERR_LIMIT);
            assertThat(e.remoteMessage()).contains("server busy").contains("--max-transfers = 8");
        });
        assertThat(server.transfersInProgress()).isEqualTo(8);
        assertThat(openDescriptors(big)).as("open descriptors on the file").isLessThanOrEqualTo(8);
        // the blocks come from the pool: direct memory outside both pools grew by less than the 8 x 256 KiB
        // that 8 buffers of their own would take
        final long directOutsidePools = jvmDirectBytes() - serverPool.allocatedBytes()
                - clients.bufferPool().allocatedBytes();
        assertThat(directOutsidePools - directBefore).as("direct bytes outside braid's pools")
                .isLessThan(8L * Transfers.BLOCK / 2);

        try (Connection good = connect()) {
            final FileProtocol.Listing l = FileProtocol.decodeListing(good.call(FileProtocol.LIST,
                    FileProtocol.pathRequest("", 0)));
            assertThat(l.entries()).extracting(FileProtocol.Entry::name).contains("big");
            final RemoteException busy = remoteError(() -> good.openStream(FileProtocol.DOWNLOAD,
                    FileProtocol.pathRequest("big", 0)));
            assertThat(busy.code()).isEqualTo(FileProtocol.ERR_LIMIT);

            await("the watchdog aborts the stuck downloads", () -> server.transfersInProgress() == 0);
            assertThat(log).filteredOn(line -> line.contains("no data moved for 1.5 s")).hasSize(8);
            for (BraidStream s : stuck) {
                await("the abort reaches the attacker", () -> !s.isOpen());
                s.close();
            }
            assertThat(sha256(readAll(good.openStream(FileProtocol.DOWNLOAD, FileProtocol.pathRequest("big", 0)))))
                    .isEqualTo(sha256(content));
        }
        await("the descriptors are closed", () -> {
            try {
                return openDescriptors(big) == 0;
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        for (Connection c : attackers) {
            c.close();
        }
    }

    @Test
    void oneClientAddressCannotTakeEveryTransfer() throws Exception {
        serve(ServeLimits.DEFAULT.withTransfers(8, 2));
        file("f", 1 << 20, 2);
        try (Connection c = connect()) {
            final BraidStream a = c.openStream(FileProtocol.DOWNLOAD, FileProtocol.pathRequest("f", 0));
            final BraidStream b = c.openStream(FileProtocol.DOWNLOAD, FileProtocol.pathRequest("f", 0));
            final RemoteException e = remoteError(() -> c.openStream(FileProtocol.UPLOAD,
                    FileProtocol.uploadRequest("g", 0, 10)));
            assertThat(e.code()).isEqualTo(FileProtocol.ERR_LIMIT);
            assertThat(e.remoteMessage()).contains("too many transfers from 127.0.0.1")
                    .contains("--max-client-transfers = 2");
            assertThat(readAll(a)).hasSize(1 << 20);
            b.abort("enough");
            await("both slots free", () -> server.transfersInProgress() == 0);
        }
    }

    /** An uploader that sends nothing holds a slot and a file; the watchdog aborts it and deletes its file. */
    @Test
    void anUploadThatSendsNothingIsAborted() throws Exception {
        serve(ServeLimits.DEFAULT.withStallTimeout(Duration.ofMillis(500)));
        try (Connection c = connect()) {
            final BraidStream s = c.openStream(FileProtocol.UPLOAD, FileProtocol.uploadRequest("idle", 0, 100));
            s.write(new byte[10], 0, 10);
            await("the watchdog aborts the upload", () -> server.transfersInProgress() == 0);
            assertThatThrownBy(s::finish).isInstanceOfSatisfying(RemoteException.class, e ->
                    assertThat(e.remoteMessage()).contains("put idle: no data moved for 500 ms")
                            .contains("not sending").contains("--stall-timeout"));
        }
        try (Stream<Path> left = Files.list(root)) {
            assertThat(left).as("no file, final or temporary").isEmpty();
        }
    }

    /** Each console is a process: beyond --max-consoles one is refused; a closed one frees its slot. */
    @Test
    void consolesAreBounded() throws Exception {
        serve("nio", ServeLimits.DEFAULT.withMaxConsoles(1), "cat");
        try (Connection c = connect()) {
            final BraidStream first = c.openStream(FileProtocol.CONSOLE, new byte[0]);
            final RemoteException e = remoteError(() -> c.openStream(FileProtocol.CONSOLE, new byte[0]));
            assertThat(e.code()).isEqualTo(FileProtocol.ERR_LIMIT);
            assertThat(e.remoteMessage()).contains("--max-consoles = 1");
            first.abort("detach");
            final BraidStream[] second = new BraidStream[1];
            await("the slot is free again", () -> {
                try {
                    second[0] = c.openStream(FileProtocol.CONSOLE, new byte[0]);
                    return true;
                } catch (RemoteException busy) {
                    return false;
                }
            });
            second[0].write("hi\n".getBytes(), 0, 3);
            final ByteBuffer echo = ByteBuffer.allocate(3);
            while (echo.hasRemaining()) {
                second[0].read(echo);
            }
            assertThat(new String(echo.array())).isEqualTo("hi\n");
            second[0].abort("detach");
        }
    }

    // ------------------------------------------------------------------ §2.2 the root never leaks

    /**
     * Before: a 300-byte or 4 KiB name came back as "FileSystemException /the/server/root/aaa...: File name
     * too long". Now: refused by name length, quoting the client's path (shortened) only; and an error the
     * file system raises (a symbolic link loop) says why without the root.
     */
    @Test
    void errorsNeverNameTheServedRoot() throws Exception {
        serve(ServeLimits.DEFAULT);
        Files.createSymbolicLink(root.resolve("loop1"), root.resolve("loop2"));
        Files.createSymbolicLink(root.resolve("loop2"), root.resolve("loop1"));
        final String rootText = root.toRealPath().toString();
        final String baseText = base.getFileName().toString();
        try (Connection c = connect()) {
            for (String name : List.of("a".repeat(300), "b".repeat(4096), "dir/" + "c".repeat(1000))) {
                final List<RemoteException> errors = List.of(
                        remoteError(() -> c.call(FileProtocol.LIST, FileProtocol.pathRequest(name, 0))),
                        remoteError(() -> c.openStream(FileProtocol.DOWNLOAD, FileProtocol.pathRequest(name, 0))),
                        remoteError(() -> c.openStream(FileProtocol.UPLOAD, FileProtocol.uploadRequest(name, 0, 1))));
                for (RemoteException e : errors) {
                    assertThat(e.remoteMessage()).as("%d-byte name", name.length())
                            .doesNotContain(rootText).doesNotContain(baseText)
                            .contains("longer than 255 bytes").contains(name.substring(0, 50));
                    assertThat(e.code()).isEqualTo(FileProtocol.ERR_PATH_REFUSED);
                }
            }
            final RemoteException loop = remoteError(() -> c.call(FileProtocol.LIST, FileProtocol.pathRequest("loop1", 0)));
            assertThat(loop.remoteMessage()).startsWith("'loop1': Too many levels of symbolic links").doesNotContain(rootText);
            final RemoteException under = remoteError(() -> c.openStream(FileProtocol.UPLOAD,
                    FileProtocol.uploadRequest("loop1/x", 0, 1)));
            assertThat(under.remoteMessage()).doesNotContain(rootText).doesNotContain(baseText).startsWith("'loop1/x': ");
        }
    }

    // ------------------------------------------------------------------ §2.3 directories only on success

    /**
     * Before: an upload created all its parent directories before any data arrived, so a deep path and an
     * abort left them all (800 with an 800-level path). Now: nothing is created until the upload commits,
     * an aborted one leaves nothing, and paths deeper than 64 levels are refused outright.
     */
    @Test
    void uploadsCreateDirectoriesOnlyWhenTheyComplete() throws Exception {
        serve(ServeLimits.DEFAULT);
        final String deep = String.join("/", Collections.nCopies(60, "d")) + "/f";
        try (Connection c = connect()) {
            final BraidStream aborted = c.openStream(FileProtocol.UPLOAD, FileProtocol.uploadRequest(deep, 0, -1));
            aborted.write(new byte[1000], 0, 1000);
            aborted.abort("changed my mind");
            await("the server gives the upload up", () -> server.transfersInProgress() == 0);
            try (Stream<Path> left = Files.list(root)) {
                assertThat(left).as("nothing left by the aborted upload").isEmpty();
            }

            final String tooDeep = String.join("/", Collections.nCopies(800, "d")) + "/f";
            final RemoteException e = remoteError(() -> c.openStream(FileProtocol.UPLOAD,
                    FileProtocol.uploadRequest(tooDeep, 0, -1)));
            assertThat(e.code()).isEqualTo(FileProtocol.ERR_PATH_REFUSED);
            assertThat(e.remoteMessage()).contains("more than 64 levels deep");
            try (Stream<Path> left = Files.list(root)) {
                assertThat(left).isEmpty();
            }

            final BraidStream ok = c.openStream(FileProtocol.UPLOAD, FileProtocol.uploadRequest(deep, 0, 5));
            ok.write("hello".getBytes(), 0, 5);
            ok.finish();
            assertThat(root.resolve(deep)).hasContent("hello");
            try (Stream<Path> all = Files.walk(root)) {
                assertThat(all.filter(p -> p.getFileName().toString().endsWith(".part"))).isEmpty();
            }
        }
    }

    // ------------------------------------------------------------------ §2.4 upload size and free space

    /**
     * Before: one 8 TiB hole then finish created an 8 TiB sparse file under its final name. Now: a size
     * announced above --max-upload-size is refused before the stream opens, and an upload that grows past
     * it (a hole here) is aborted and leaves nothing; a non-sparse size above the free space is refused.
     */
    @Test
    void uploadsAreLimitedInSizeAndByFreeSpace() throws Exception {
        serve(ServeLimits.DEFAULT.withMaxUploadSize(1 << 20));
        try (Connection c = connect()) {
            final RemoteException announced = remoteError(() -> c.openStream(FileProtocol.UPLOAD,
                    FileProtocol.uploadRequest("big", 0, 2 << 20)));
            assertThat(announced.code()).isEqualTo(FileProtocol.ERR_LIMIT);
            assertThat(announced.remoteMessage()).contains("'big' is too large").contains("--max-upload-size = 1.0 MiB");

            final BraidStream hole = c.openStream(FileProtocol.UPLOAD, FileProtocol.uploadRequest("huge", 1, -1));
            hole.sendHole(8L << 40);
            final RemoteException grown = remoteError(hole::finish);
            assertThat(grown.code()).isEqualTo(FileProtocol.ERR_LIMIT);
            assertThat(grown.remoteMessage()).contains("'huge' is too large").contains("8796093022208 bytes");

            final BraidStream fits = c.openStream(FileProtocol.UPLOAD, FileProtocol.uploadRequest("fits", 1, -1));
            fits.sendHole(1 << 20);
            fits.finish();
            assertThat(root.resolve("fits")).hasSize(1 << 20);
        }
        await("transfers end", () -> server.transfersInProgress() == 0);
        try (Stream<Path> left = Files.list(root)) {
            assertThat(left).extracting(p -> p.getFileName().toString()).containsExactly("fits");
        }
    }

    @Test
    void anUploadLargerThanTheFreeSpaceIsRefusedUpFront() throws Exception {
        serve(ServeLimits.DEFAULT.withMaxUploadSize(Long.MAX_VALUE));
        final long usable = Files.getFileStore(root).getUsableSpace();
        org.junit.jupiter.api.Assumptions.assumeTrue(usable > 0 && usable < Long.MAX_VALUE / 4,
                "the file system reports its free space");
        try (Connection c = connect()) {
            final RemoteException e = remoteError(() -> c.openStream(FileProtocol.UPLOAD,
                    FileProtocol.uploadRequest("too/big", 0, usable * 2)));
            assertThat(e.code()).isEqualTo(FileProtocol.ERR_LIMIT);
            assertThat(e.remoteMessage()).contains("not enough free space for 'too/big'");
        }
        try (Stream<Path> left = Files.list(root)) {
            assertThat(left).isEmpty();
        }
    }

    // ------------------------------------------------------------------ §2.5 malformed requests: code 6

    /** Before: code 1 (VIR_FROM_RPC) "handler ... failed: java.nio.BufferUnderflowException". Now: code 6. */
    @Test
    void truncatedOrEmptyArgumentsAnswerCode6() throws Exception {
        serve(ServeLimits.DEFAULT);
        final byte[] pathOnly = FileProtocol.pathRequest("x", 0);
        final byte[] stringOnly = java.util.Arrays.copyOf(pathOnly, pathOnly.length - 4);
        try (Connection c = connect()) {
            final List<RemoteException> errors = new ArrayList<>();
            for (byte[] args : List.of(new byte[0], new byte[2], new byte[]{0, 0, 0, 8}, stringOnly,
                    new byte[]{(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff})) {
                errors.add(remoteError(() -> c.call(FileProtocol.LIST, args)));
                errors.add(remoteError(() -> c.openStream(FileProtocol.DOWNLOAD, args)));
                errors.add(remoteError(() -> c.openStream(FileProtocol.UPLOAD, args)));
            }
            errors.add(remoteError(() -> c.openStream(FileProtocol.UPLOAD, pathOnly))); // no size
            assertThat(errors).allSatisfy(e -> {
                assertThat(e.code()).as("%s", e).isEqualTo(FileProtocol.ERR_BAD_REQUEST);
                assertThat(e.remoteMessage()).startsWith("malformed request: ").doesNotContain("Exception");
            });
            assertThat(errors.get(0).remoteMessage())
                    .isEqualTo("malformed request: LIST arguments end before path's length (4 bytes needed, 0 left)");
        }
        assertThatThrownBy(() -> FileProtocol.decodeListing(new byte[]{0, 0, 0, 2, 0, 0, 0, 1}))
                .isInstanceOfSatisfying(RemoteException.class, e -> assertThat(e.code())
                        .isEqualTo(FileProtocol.ERR_BAD_REQUEST));
    }

    /**
     * Issue 14 §1: a drain lets a download in flight finish byte for byte while new requests are refused at
     * once with a DrainingException (the client heard DRAIN), then every connection closes by itself.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"nio", "epoll", "loom"})
    void aDrainLetsTheDownloadInFlightFinish(final String backend) throws Exception {
        serve(backend, ServeLimits.DEFAULT);
        final Path big = file("big", 4 << 20, 14);
        final Connection c = connect();
        final BraidStream s = c.openStream(FileProtocol.DOWNLOAD,
                ByteBuffer.wrap(FileProtocol.pathRequest("big", 0)), dev.braid.StreamOptions.DEFAULT);
        final java.util.concurrent.CompletableFuture<Boolean> drained = java.util.concurrent.CompletableFuture
                .supplyAsync(() -> server.drain(Duration.ofSeconds(60)));
        await("the client heard the DRAIN", c::isDraining);
        assertThatThrownBy(() -> c.call(FileProtocol.LIST, FileProtocol.pathRequest("", 0)))
                .isInstanceOf(dev.braid.DrainingException.class).hasMessageContaining("draining");
        final MessageDigest got = MessageDigest.getInstance("SHA-256");
        final ByteBuffer buf = ByteBuffer.allocate(64 << 10);
        int n;
        while ((n = s.read(buf.clear())) != BraidStream.EOF) {
            got.update(buf.array(), 0, n);
        }
        s.finish();
        assertThat(got.digest()).isEqualTo(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(big)));
        assertThat(drained.get(30, TimeUnit.SECONDS)).as("every connection closed before the deadline").isTrue();
        assertThat(c.closeFuture().get(30, TimeUnit.SECONDS)).hasMessageContaining("closed gracefully");
    }

    /**
     * Issue 14 §1: an upload that does not finish by the drain's deadline is aborted by the close that
     * follows, and leaves nothing behind: no file under its final name, no temporary file.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"nio", "epoll", "loom"})
    void anUploadStillRunningAtTheDrainDeadlineLeavesNoFile(final String backend) throws Exception {
        serve(backend, ServeLimits.DEFAULT);
        final Connection c = connect();
        final BraidStream up = c.openStream(FileProtocol.UPLOAD, ByteBuffer.wrap(FileProtocol.uploadRequest("new.bin",
                0, 1 << 20)), dev.braid.StreamOptions.DEFAULT);
        up.write(ByteBuffer.allocate(64 << 10)); // a sixteenth of what it announced, then nothing
        await("the upload is in progress", () -> server.transfersInProgress() == 1);
        try (Stream<Path> l = Files.list(root)) {
            assertThat(l.toList()).as("its temporary file").hasSize(1);
        }
        assertThat(server.drain(Duration.ofMillis(200))).as("the upload cannot finish by the deadline").isFalse();
        server.close();
        assertThat(root.resolve("new.bin")).doesNotExist();
        try (Stream<Path> l = Files.list(root)) {
            assertThat(l.toList()).as("nothing left, temporary file included").isEmpty();
        }
        assertThatThrownBy(() -> {
            up.write(ByteBuffer.allocate(64 << 10));
            up.finish();
        }).isInstanceOf(dev.braid.BraidException.class);
    }

    private static Progress quietProgress(final long total) {
        return new Progress(new java.io.PrintWriter(java.io.Writer.nullWriter()), "get", total, 1, false, 60_000);
    }

    /**
     * Issue 14 §2: {@code get --resume} after a lost connection. A rate-limited download is cut off by killing
     * the server; the partial file stays under its temporary name; a second get --resume against a new server
     * over the same root receives only the bytes that were missing, checks the whole file against the
     * server's SHA-256 and renames it into place.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"nio", "epoll", "loom"})
    void getResumeContinuesAPartialDownloadAfterALostConnection(final String backend) throws Exception {
        serve(backend, ServeLimits.DEFAULT);
        final int size = 3 << 20;
        final Path big = file("big", size, 21);
        final Path dest = Files.createDirectories(base.resolve("dest"));
        final FileClient.Job job = new FileClient.Job("big", dest.resolve("big"), size);
        final Path tmp = Transfers.resumeTemp(job.local());
        final Connection first = connect();
        final java.util.concurrent.CompletableFuture<Void> cut = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try (Progress p = quietProgress(size)) {
                new FileClient(first, clients.bufferPool(), false, 1 << 20, true).download(job, p);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        await("part of the file arrived", () -> Files.exists(tmp) && sizeOf(tmp) >= 256 << 10);
        server.close(); // the server is killed mid-transfer
        LeakChecks.assertNoOutstandingBuffers(serverPool);
        assertThatThrownBy(() -> cut.get(30, TimeUnit.SECONDS)).hasMessageContaining("partial file kept")
                .hasMessageContaining("run again with --resume");
        final long partial = Files.size(tmp);
        assertThat(partial).isBetween(1L, size - 1L);
        assertThat(job.local()).doesNotExist();

        server = FileServer.start(root, new InetSocketAddress("127.0.0.1", 0), new BraidConfig().backend(backend),
                ServeLimits.DEFAULT, null, log::add);
        serverPool = server.braid().bufferPool();
        try (Progress progress = quietProgress(size)) {
            new FileClient(connect(), clients.bufferPool(), false, 0, true).download(job, progress);
            assertThat(progress.bytes.get()).as("only the missing bytes moved").isEqualTo(size - partial);
        }
        assertThat(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(job.local())))
                .isEqualTo(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(big)));
        assertThat(tmp).doesNotExist();
    }

    /**
     * Issue 14 §2, {@code get --reconnect}: the download runs on a reconnecting connection; the server is
     * killed mid-transfer and a new one started on the same port over the same root; the same download goes
     * on by itself on the next connection from the bytes already written (announced on the notes), and the
     * file arrives whole (checked against the server's SHA-256, then against the original here).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"nio", "epoll", "loom"})
    void getReconnectResumesByItselfOnTheRestartedServer(final String backend) throws Exception {
        serve(backend, ServeLimits.DEFAULT);
        final int size = 3 << 20;
        final Path big = file("big", size, 24);
        final Path dest = Files.createDirectories(base.resolve("dest"));
        final FileClient.Job job = new FileClient.Job("big", dest.resolve("big"), size);
        final Path tmp = Transfers.resumeTemp(job.local());
        final InetSocketAddress address = (InetSocketAddress) server.address();
        final dev.braid.ReconnectingConnection c = clients.connectReconnecting(address,
                new dev.braid.ReconnectPolicy(java.time.Duration.ofMillis(20), java.time.Duration.ofMillis(200), 2.0,
                        0.2, 200));
        final java.io.StringWriter notes = new java.io.StringWriter();
        final java.io.PrintWriter notesOut = new java.io.PrintWriter(notes, true);
        final Progress progress = quietProgress(size);
        final java.util.concurrent.CompletableFuture<Void> download = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                new FileClient(c, clients.bufferPool(), false, 1 << 20, true).resumingAfterLoss(3, notesOut)
                        .download(job, progress);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        await("part of the file arrived", () -> Files.exists(tmp) && sizeOf(tmp) >= 256 << 10);
        server.close(); // the server is killed mid-transfer
        LeakChecks.assertNoOutstandingBuffers(serverPool);
        await("the cut is noticed", () -> notes.toString().contains("resuming on the next connection"));
        await("the port is free again", () -> {
            try {
                server = FileServer.start(root, address, new BraidConfig().backend(backend), ServeLimits.DEFAULT,
                        null, log::add);
                return true;
            } catch (RuntimeException | java.io.IOException e) {
                return false;
            }
        });
        serverPool = server.braid().bufferPool();
        download.get(60, TimeUnit.SECONDS);
        progress.close();
        assertThat(notes.toString()).contains("braid: get big: cut off at ").contains("(1 of 3)");
        assertThat(progress.bytes.get()).as("every byte moved once").isEqualTo(size);
        assertThat(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(job.local())))
                .isEqualTo(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(big)));
        assertThat(tmp).doesNotExist();
        assertThat(c.reconnects()).isEqualTo(1);
        c.close();
    }

    /** A partial file that is not a prefix of the server's file fails the checksum and is deleted, never renamed. */
    @Test
    void aResumedDownloadThatFailsItsChecksumLeavesNoFile() throws Exception {
        serve(ServeLimits.DEFAULT);
        file("big", 1 << 20, 22);
        final Path dest = Files.createDirectories(base.resolve("dest"));
        final FileClient.Job job = new FileClient.Job("big", dest.resolve("big"), 1 << 20);
        final Path tmp = Transfers.resumeTemp(job.local());
        Files.write(tmp, new byte[100_000]); // zeros: not what the server's file starts with
        try (Progress p = quietProgress(1 << 20)) {
            assertThatThrownBy(() -> new FileClient(connect(), clients.bufferPool(), false, 0, true).download(job, p))
                    .hasMessageContaining("failed its checksum after resuming at byte 100000");
        }
        assertThat(tmp).doesNotExist();
        assertThat(job.local()).doesNotExist();
    }

    /** An offset beyond the file's end is refused with code 6, naming both numbers. */
    @Test
    void aResumeBeyondTheEndIsRefused() throws Exception {
        serve(ServeLimits.DEFAULT);
        file("small", 1000, 23);
        final Connection c = connect();
        final RemoteException e = remoteError(() -> c.openStream(FileProtocol.DOWNLOAD, ByteBuffer.wrap(
                FileProtocol.downloadRequest("small", FileProtocol.FLAG_RESUME, 5000)), dev.braid.StreamOptions.DEFAULT));
        assertThat(e.code()).isEqualTo(FileProtocol.ERR_BAD_REQUEST);
        assertThat(e).hasMessageContaining("cannot resume 'small' at offset 5000: the file has 1000 bytes");
    }

    private static long sizeOf(final Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            return -1;
        }
    }
}
