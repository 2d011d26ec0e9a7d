package dev.braid.jmh;

import io.grpc.CallOptions;
import io.grpc.Detachable;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import dev.braid.tooling.ThrowawayPki;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.IoHandlerFactory;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslProvider;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The gRPC peer of the braid benchmarks (support class, not a benchmark): one in-process gRPC-java server and one
 * {@link ManagedChannel} to it on 127.0.0.1, plaintext or TLS 1.3 ({@link #GrpcPeer(boolean)}), over gRPC's <em>shaded</em> Netty (epoll when available),
 * with event loops and executors owned here so that {@link #close()} leaves no thread behind.
 *
 * <p>No protobuf: messages are {@code byte[]} with a marshaller whose serialised form is a {@link Drainable}
 * {@link KnownLength} stream (what protobuf's own marshaller hands gRPC), so gRPC copies each payload exactly once
 * into its outbound buffers. Received stream chunks are not copied by a parser on an event-loop or executor thread:
 * the server's upload sink drops them unread (gRPC releases the buffers), and the client's download hands the
 * {@link Detachable detached} message to the benchmark thread, which copies it into its own reused array, like a
 * socket read does.
 *
 * <p>Configuration (see docs/peers.md): {@code -Dbraid.jmh.grpc.executor=direct|pool} (default {@code direct}:
 * {@code directExecutor()} on server and channel, as in gRPC's own benchmarks' "direct" mode; {@code pool}: one
 * cached thread pool per side, like gRPC's default executor); {@code -Dbraid.jmh.grpc.onReadyThreshold=BYTES}
 * (default unset: gRPC's 32 KiB) for stream calls.
 */
final class GrpcPeer {
    /**
     * JMH forks with {@code java -cp benchmarks.jar ...}, so the jar manifest's {@code Enable-Native-Access} does not
     * reach the forked JVM, and loading gRPC's shaded epoll library warns on JDK 24+. The gRPC benchmarks pass the
     * flag themselves ({@code @Fork(jvmArgsPrepend = ...)}: the forks count and a command-line
     * {@code -jvmArgsAppend} still apply).
     */
    static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";
    static final int CALL_BYTES = 64;
    static final int CHUNK_BYTES = 256 * 1024;
    /** Download messages requested ahead of the benchmark thread: at most this many are buffered client-side. */
    static final int DOWNLOAD_PREFETCH = 4;
    /** Every wait in the benchmarks and in teardown is bounded by this. */
    static final long TIMEOUT_SECONDS = 10;

    static final String EXECUTOR = System.getProperty("braid.jmh.grpc.executor", "direct");
    static final Integer ON_READY_THRESHOLD = Integer.getInteger("braid.jmh.grpc.onReadyThreshold");

    private static final String SERVICE = "braid.bench.Peer";
    private static final String[] TLS_PROTOCOLS = {"TLSv1.3"};
    /** The JDK's default TLS 1.3 suites in its own order (AES-256 first), what braid's SSLEngine negotiates. */
    private static final List<String> JDK_TLS13_SUITES = List.of("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256");

    /**
     * Teardown cancels the endless download calls; the server's Netty handler then logs each pending 256 KiB
     * write it drops ("Stream closed before write could take place") at WARNING, with a stack trace. That one
     * expected record is filtered out; every other gRPC log record is left alone. Held here: JUL keeps loggers
     * weakly.
     */
    private static final Logger SERVER_HANDLER_LOG = quietCancelledWrites();

    private static Logger quietCancelledWrites() {
        final Logger log = Logger.getLogger("io.grpc.netty.shaded.io.grpc.netty.NettyServerHandler");
        log.setFilter(r -> !(r.getThrown() != null && String.valueOf(r.getThrown().getMessage())
                .contains("Stream closed before write could take place")));
        return log;
    }
    private static final byte[] EMPTY = new byte[0];
    /** What the server streams to the client: read-only, shared. */
    private static final byte[] SERVER_CHUNK = pattern(CHUNK_BYTES);

    /** Serialises a byte[] as-is; parses into a new array (unary echo: the handler needs the bytes). */
    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayDrainable(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                if (stream instanceof KnownLength) { // always, from gRPC's deframer: exact-size array, one copy
                    final byte[] b = new byte[stream.available()];
                    if (stream.readNBytes(b, 0, b.length) != b.length) {
                        throw new IOException("short message");
                    }
                    return b;
                }
                return stream.readAllBytes(); // (allocates 16 KiB scratch buffers: avoided above)
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    /** Serialises a byte[] as-is; the receiver drops the bytes unread (gRPC closes the stream, releasing them). */
    static final MethodDescriptor.Marshaller<byte[]> SINK = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayDrainable(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            return EMPTY;
        }
    };

    /** Serialises a stream as-is; parses by detaching the received bytes, for the consumer to read and close. */
    static final MethodDescriptor.Marshaller<InputStream> DETACHED = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(InputStream value) {
            return value;
        }

        @Override
        public InputStream parse(InputStream stream) {
            if (stream instanceof Detachable d) {
                return d.detach();
            }
            try { // not expected with the Netty transport; correct but copies
                return new ByteArrayInputStream(stream.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    static final MethodDescriptor<byte[], byte[]> ECHO = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Echo"))
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
    static final MethodDescriptor<byte[], byte[]> UPLOAD = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.CLIENT_STREAMING)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Upload"))
            .setRequestMarshaller(SINK).setResponseMarshaller(BYTES).build();
    static final MethodDescriptor<byte[], InputStream> DOWNLOAD = MethodDescriptor.<byte[], InputStream>newBuilder()
            .setType(MethodDescriptor.MethodType.SERVER_STREAMING)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Download"))
            .setRequestMarshaller(BYTES).setResponseMarshaller(DETACHED).build();

    final ManagedChannel channel;
    private final Server server;
    private final List<EventLoopGroup> groups = new ArrayList<>();
    private final List<ExecutorService> executors = new ArrayList<>();
    /** The throwaway CA and server certificate of a TLS peer (deleted on close), or null. */
    private final Path pkiDir;

    /** A plaintext peer. */
    GrpcPeer() throws IOException {
        this(false);
    }

    /**
     * @param tls true: TLS 1.3 over gRPC's Netty transport with the JDK's provider ({@link SslProvider#JDK}),
     *            a throwaway CA made here, the channel checking the server's address against its certificate,
     *            and the JDK's own cipher suite order (so it negotiates {@code TLS_AES_256_GCM_SHA384}, as braid
     *            and the raw {@code SSLSocket} benchmarks do; gRPC's default list would put AES-128 first)
     */
    GrpcPeer(final boolean tls) throws IOException {
        SslContext serverSsl = null;
        SslContext clientSsl = null;
        if (tls) {
            pkiDir = Files.createTempDirectory("braid-jmh-grpc-tls");
            try {
                final ThrowawayPki pki = ThrowawayPki.create(pkiDir, "grpc");
                final ThrowawayPki.Identity id = pki.issue("server", List.of("localhost"), List.of("127.0.0.1"));
                serverSsl = GrpcSslContexts.configure(SslContextBuilder.forServer(id.certificate().toFile(),
                        id.key().toFile()), SslProvider.JDK).protocols(TLS_PROTOCOLS).ciphers(JDK_TLS13_SUITES).build();
                clientSsl = GrpcSslContexts.configure(SslContextBuilder.forClient()
                        .trustManager(pki.caCertificate().toFile()), SslProvider.JDK)
                        .protocols(TLS_PROTOCOLS).ciphers(JDK_TLS13_SUITES).build();
            } catch (IOException | RuntimeException e) {
                deletePki();
                throw e;
            }
        } else {
            pkiDir = null;
        }
        final boolean epoll = Epoll.isAvailable();
        final IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        final InetAddress loopback = InetAddress.getByName("127.0.0.1");
        final NettyServerBuilder sb = NettyServerBuilder.forAddress(new InetSocketAddress(loopback, 0))
                .channelType(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .bossEventLoopGroup(group(io, "grpc-peer-boss"))
                .workerEventLoopGroup(group(io, "grpc-peer-server"))
                .maxInboundMessageSize(2 * CHUNK_BYTES)
                .addService(service());
        if (serverSsl != null) {
            sb.sslContext(serverSsl);
        }
        final EventLoopGroup clientLoop = group(io, "grpc-peer-client");
        Server started = null;
        ManagedChannel connected = null;
        try {
            switch (EXECUTOR) {
                case "direct" -> sb.directExecutor();
                case "pool" -> sb.executor(pool("grpc-peer-server-exec"));
                default -> throw new IllegalArgumentException("braid.jmh.grpc.executor: direct|pool, not " + EXECUTOR);
            }
            started = sb.build().start();
            final int port = ((InetSocketAddress) started.getListenSockets().get(0)).getPort();
            final NettyChannelBuilder cb = NettyChannelBuilder.forAddress(new InetSocketAddress(loopback, port))
                    .channelType(epoll ? EpollSocketChannel.class : NioSocketChannel.class)
                    .eventLoopGroup(clientLoop)
                    .maxInboundMessageSize(2 * CHUNK_BYTES);
            if (clientSsl != null) {
                cb.sslContext(clientSsl).useTransportSecurity();
            } else {
                cb.usePlaintext();
            }
            if (EXECUTOR.equals("direct")) {
                cb.directExecutor();
            } else {
                cb.executor(pool("grpc-peer-client-exec"));
            }
            connected = cb.build();
            // connect now, not inside the first measured call
            ClientCalls.blockingUnaryCall(connected, ECHO, CallOptions.DEFAULT, new byte[CALL_BYTES]);
        } catch (RuntimeException | IOException e) {
            if (connected != null) {
                connected.shutdownNow();
            }
            if (started != null) {
                started.shutdownNow();
            }
            for (EventLoopGroup g : groups) {
                g.shutdownGracefully(0, TIMEOUT_SECONDS, TimeUnit.SECONDS);
            }
            executors.forEach(ExecutorService::shutdownNow);
            deletePki();
            throw e;
        }
        server = started;
        channel = connected;
    }

    private EventLoopGroup group(IoHandlerFactory io, String name) {
        final EventLoopGroup g = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory(name, true), io);
        groups.add(g);
        return g;
    }

    private ExecutorService pool(String name) {
        final ExecutorService e = Executors.newCachedThreadPool(new DefaultThreadFactory(name, true));
        executors.add(e);
        return e;
    }

    CallOptions streamOptions() {
        return ON_READY_THRESHOLD == null ? CallOptions.DEFAULT
                : CallOptions.DEFAULT.withOnReadyThreshold(ON_READY_THRESHOLD);
    }

    private static ServerServiceDefinition service() {
        return ServerServiceDefinition.builder(SERVICE)
                .addMethod(ECHO, ServerCalls.asyncUnaryCall((req, out) -> {
                    out.onNext(req);
                    out.onCompleted();
                }))
                .addMethod(UPLOAD, ServerCalls.asyncClientStreamingCall(out -> new StreamObserver<byte[]>() {
                    @Override
                    public void onNext(byte[] ignored) {
                        // dropped: the chunk was never copied out of gRPC's buffers (SINK marshaller)
                    }

                    @Override
                    public void onError(Throwable t) {
                        // client went away (teardown cancel): nothing to do
                    }

                    @Override
                    public void onCompleted() {
                        out.onNext(EMPTY);
                        out.onCompleted();
                    }
                }))
                .addMethod(DOWNLOAD, ServerCalls.asyncServerStreamingCall((req, out) -> {
                    final ServerCallStreamObserver<InputStream> s = (ServerCallStreamObserver<InputStream>) out;
                    s.setOnCancelHandler(() -> { });
                    if (ON_READY_THRESHOLD != null) {
                        s.setOnReadyThreshold(ON_READY_THRESHOLD);
                    }
                    s.setOnReadyHandler(() -> {
                        while (s.isReady() && !s.isCancelled()) {
                            s.onNext(new ByteArrayDrainable(SERVER_CHUNK));
                        }
                    });
                }))
                .build();
    }

    /** Closes the channel, then the server, then event loops and executors; bounded, and throws if anything hung. */
    void close() throws InterruptedException {
        final StringBuilder errors = new StringBuilder();
        channel.shutdown();
        if (!channel.awaitTermination(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            errors.append("channel did not terminate within ").append(TIMEOUT_SECONDS).append(" s; ");
            channel.shutdownNow().awaitTermination(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
        server.shutdown();
        if (!server.awaitTermination(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            errors.append("server did not terminate within ").append(TIMEOUT_SECONDS).append(" s; ");
            server.shutdownNow().awaitTermination(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
        errors.append(shutdownLoops());
        deletePki();
        if (!errors.isEmpty()) {
            throw new IllegalStateException("gRPC peer teardown: " + errors);
        }
    }

    private void deletePki() {
        if (pkiDir == null) {
            return;
        }
        try (var files = Files.walk(pkiDir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a temporary directory: best effort
        }
    }

    private String shutdownLoops() throws InterruptedException {
        final StringBuilder errors = new StringBuilder();
        for (EventLoopGroup g : groups) {
            g.shutdownGracefully(0, TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
        for (ExecutorService e : executors) {
            e.shutdown();
        }
        for (EventLoopGroup g : groups) {
            if (!g.terminationFuture().await(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                errors.append("event loop group did not terminate; ");
            }
        }
        for (ExecutorService e : executors) {
            if (!e.awaitTermination(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                e.shutdownNow();
                errors.append("executor did not terminate; ");
            }
        }
        return errors.toString();
    }

    /** One 64-byte unary echo on the calling thread (gRPC's blocking path: no executor hop for the response). */
    byte[] echo(byte[] request) {
        return ClientCalls.blockingUnaryCall(channel, ECHO, CallOptions.DEFAULT, request);
    }

    Upload upload() throws InterruptedException {
        return new Upload(this);
    }

    Download download() {
        return new Download(this);
    }

    /** A client-streaming call to which the caller sends chunks, waiting while gRPC says it is not ready. */
    static final class Upload implements ClientResponseObserver<byte[], byte[]> {
        private final Object lock = new Object();
        private final CountDownLatch done = new CountDownLatch(1);
        private ClientCallStreamObserver<byte[]> requests;
        private volatile Throwable failure;

        Upload(GrpcPeer peer) throws InterruptedException {
            ClientCalls.asyncClientStreamingCall(peer.channel.newCall(UPLOAD, peer.streamOptions()), this);
            awaitReady(); // the call is started: the first send is not measuring call setup
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<byte[]> r) {
            requests = r;
            r.setOnReadyHandler(this::wake);
        }

        private void wake() {
            synchronized (lock) {
                lock.notifyAll();
            }
        }

        /** Sends one chunk; the caller's array may be reused at once (gRPC serialises it before returning). */
        void send(byte[] chunk) throws InterruptedException {
            if (!requests.isReady()) {
                awaitReady();
            }
            requests.onNext(chunk);
        }

        private void awaitReady() throws InterruptedException {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
            synchronized (lock) { // onReady takes the lock to notify: checked under it, no wakeup is lost
                while (!requests.isReady()) {
                    final Throwable f = failure;
                    if (f != null) {
                        throw new IllegalStateException("upload call failed", f);
                    }
                    final long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new IllegalStateException("upload: not ready for " + TIMEOUT_SECONDS + " s");
                    }
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                }
            }
        }

        @Override
        public void onNext(byte[] value) {
        }

        @Override
        public void onError(Throwable t) {
            failure = t;
            done.countDown();
            wake();
        }

        @Override
        public void onCompleted() {
            done.countDown();
        }

        /** Half-closes and waits (bounded) for the server's reply. */
        void close() throws InterruptedException {
            requests.onCompleted();
            if (!done.await(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                requests.cancel("teardown: no reply", null);
                throw new IllegalStateException("upload: server did not reply within " + TIMEOUT_SECONDS + " s");
            }
            if (failure != null) {
                throw new IllegalStateException("upload call failed", failure);
            }
        }
    }

    /** A server-streaming call read one message at a time, {@link #DOWNLOAD_PREFETCH} requested ahead. */
    static final class Download implements ClientResponseObserver<byte[], InputStream> {
        private static final Object END = new Object();
        /** Room for every requested message plus the end marker: offer never fails. */
        private final ArrayBlockingQueue<Object> queue = new ArrayBlockingQueue<>(DOWNLOAD_PREFETCH + 1);
        private ClientCallStreamObserver<byte[]> call;
        private volatile Throwable failure;

        Download(GrpcPeer peer) {
            ClientCalls.asyncServerStreamingCall(peer.channel.newCall(DOWNLOAD, peer.streamOptions()), EMPTY, this);
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<byte[]> r) {
            call = r;
            r.disableAutoRequestWithInitial(DOWNLOAD_PREFETCH);
        }

        @Override
        public void onNext(InputStream message) {
            if (!queue.offer(message)) {
                close(message);
                onError(new IllegalStateException("download: more messages than requested"));
            }
        }

        @Override
        public void onError(Throwable t) {
            failure = t;
            queue.offer(END);
        }

        @Override
        public void onCompleted() {
            queue.offer(END);
        }

        /** Takes the next message, asks for one more, and copies the message into {@code dst}; returns its length. */
        int take(byte[] dst) throws InterruptedException, IOException {
            final Object o = queue.poll(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (o == null) {
                throw new IllegalStateException("download: no message for " + TIMEOUT_SECONDS + " s");
            }
            if (o == END) {
                queue.offer(END);
                throw new IllegalStateException("download call ended", failure);
            }
            call.request(1);
            try (InputStream in = (InputStream) o) {
                return in.readNBytes(dst, 0, dst.length);
            }
        }

        /** Cancels the call and releases whatever was delivered but not taken. */
        void close() {
            call.cancel("teardown", null);
            Object o;
            while ((o = queue.poll()) != null) {
                if (o != END) {
                    close((InputStream) o);
                }
            }
        }

        private static void close(InputStream in) {
            try {
                in.close();
            } catch (IOException ignored) {
                // released either way
            }
        }
    }

    static byte[] pattern(int size) {
        final byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    /** What protobuf's marshaller gives gRPC: a known length, drained into gRPC's buffers with one bulk write. */
    static final class ByteArrayDrainable extends InputStream implements Drainable, KnownLength {
        private final byte[] bytes;
        private int pos;

        ByteArrayDrainable(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            final int n = bytes.length - pos;
            target.write(bytes, pos, n);
            pos = bytes.length;
            return n;
        }

        @Override
        public int available() {
            return bytes.length - pos;
        }

        @Override
        public int read() {
            return pos < bytes.length ? bytes[pos++] & 0xff : -1;
        }

        @Override
        public int read(byte[] dst, int off, int len) {
            if (len == 0) {
                return 0;
            }
            final int n = Math.min(len, bytes.length - pos);
            if (n <= 0) {
                return -1;
            }
            System.arraycopy(bytes, pos, dst, off, n);
            pos += n;
            return n;
        }
    }
}
