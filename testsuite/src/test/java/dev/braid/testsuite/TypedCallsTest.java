package dev.braid.testsuite;

import dev.braid.BlockingOperationException;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Event;
import dev.braid.HandlerMode;
import dev.braid.LimitExceededException;
import dev.braid.Marshaller;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.ReplyHandler;
import dev.braid.ReplyTooLargeException;
import dev.braid.TypedReplyHandler;
import dev.braid.spi.IoThreads;
import dev.braid.xdr.XdrCodec;
import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Typed procedures (issue 15): descriptors with XDR and foreign marshallers, the blocking, future and
 * handler forms with per-call attachments, typed server handlers in both modes, and what happens when a
 * marshaller fails or lies. Every test runs over every backend pairing and ends with no pooled buffer out.
 */
class TypedCallsTest extends TransportTest {
    static final int PROG = 0x7479_7065; // "type"

    /** An XDR struct: {@code struct point { int x; int y; string label<>; }}. */
    record Point(int x, int y, String label) {
    }

    static final XdrCodec<Point> POINT = XdrCodec.of(
            p -> 8 + XdrWriter.sizeOfString(p.label()),
            (p, b) -> {
                XdrWriter.writeInt(b, p.x());
                XdrWriter.writeInt(b, p.y());
                XdrWriter.writeString(b, p.label());
            },
            b -> new Point(XdrReader.readInt(b, "x"), XdrReader.readInt(b, "y"), XdrReader.readString(b, "label")));

    /** Swaps x and y, upper-cases the label. */
    static final ProcedureDescriptor<Point, Point> MIRROR = ProcedureDescriptor.of(Procedure.of(PROG, 1, 1), POINT, POINT);
    static final ProcedureDescriptor<Point, Point> MIRROR_INLINE = ProcedureDescriptor.of(Procedure.of(PROG, 1, 2), POINT, POINT);
    /** A mutable reply type decoded into the caller's object. */
    static final ProcedureDescriptor<Long, Total> ADD = ProcedureDescriptor.of(Procedure.of(PROG, 1, 3), XdrCodec.HYPER, Total.MARSHALLER);
    static final ProcedureDescriptor<String, String> JSON_ORDER = ProcedureDescriptor.of(Procedure.of(PROG, 1, 4),
            XdrCodec.STRING, XdrCodec.STRING);
    static final ProcedureDescriptor<Order, Order> ORDER_JSON = ProcedureDescriptor.of(Procedure.of(PROG, 1, 5),
            JsonOrder.MARSHALLER, JsonOrder.MARSHALLER);
    static final ProcedureDescriptor<Order, Order> ORDER_TAGGED = ProcedureDescriptor.of(Procedure.of(PROG, 1, 6),
            TaggedOrder.MARSHALLER, TaggedOrder.MARSHALLER);
    static final ProcedureDescriptor<String, Integer> DEFERRED_LENGTH = ProcedureDescriptor.of(Procedure.of(PROG, 1, 7),
            XdrCodec.STRING, XdrCodec.INT);
    static final ProcedureDescriptor<String, Integer> FAILING = ProcedureDescriptor.of(Procedure.of(PROG, 1, 8),
            XdrCodec.STRING, XdrCodec.INT);
    /** The server answers with a string; the client's descriptor expects a point: undecodable reply. */
    static final ProcedureDescriptor<String, Point> MISMATCHED = ProcedureDescriptor.of(Procedure.of(PROG, 1, 4),
            XdrCodec.STRING, POINT);
    static final Procedure RAW_ECHO = Procedure.of(PROG, 1, 9);
    static final Procedure POINT_EVENT = Procedure.of(PROG, 1, 10);

    static final class Total {
        long value;

        static final Marshaller<Total> MARSHALLER = new Marshaller<>() {
            @Override
            public int size(final Total t) {
                return 8;
            }

            @Override
            public void write(final Total t, final ByteBuffer dst) {
                dst.putLong(t.value);
            }

            @Override
            public Total read(final ByteBuffer src) {
                return read(src, new Total());
            }

            @Override
            public Total read(final ByteBuffer src, final Total reuse) {
                final Total t = reuse != null ? reuse : new Total();
                t.value = XdrReader.readHyper(src, "total");
                return t;
            }
        };
    }

    /** A record carried by two marshallers braid knows nothing about. */
    record Order(String item, int quantity) {
    }

    /**
     * A JSON marshaller as a JSON library would give one (encode to bytes, parse from bytes), plugged in
     * with {@link Marshaller#ofBytes}: braid depends on no JSON library, and encodes each value once.
     */
    static final class JsonOrder {
        static final AtomicCounter ENCODES = new AtomicCounter();
        private static final Pattern FORM = Pattern.compile("\\{\"item\":\"((?:[^\"\\\\]|\\\\.)*)\",\"quantity\":(-?\\d+)}");

        static final Marshaller<Order> MARSHALLER = Marshaller.ofBytes(JsonOrder::toJson, JsonOrder::fromJson);

        static byte[] toJson(final Order o) {
            ENCODES.increment();
            final String item = o.item().replace("\\", "\\\\").replace("\"", "\\\"");
            return ("{\"item\":\"" + item + "\",\"quantity\":" + o.quantity() + "}").getBytes(StandardCharsets.UTF_8);
        }

        static Order fromJson(final byte[] json) {
            final Matcher m = FORM.matcher(new String(json, StandardCharsets.UTF_8));
            if (!m.matches()) {
                throw new IllegalArgumentException("not an order: " + new String(json, StandardCharsets.UTF_8));
            }
            return new Order(m.group(1).replace("\\\"", "\"").replace("\\\\", "\\"), Integer.parseInt(m.group(2)));
        }
    }

    /**
     * A protobuf-like marshaller (field tags, varints, length-delimited strings) that knows its size up
     * front, so braid claims the frame and it writes straight into it: what a generated message's
     * {@code getSerializedSize} and {@code writeTo(CodedOutputStream.newInstance(buffer))} do.
     */
    static final class TaggedOrder {
        static final Marshaller<Order> MARSHALLER = new Marshaller<>() {
            @Override
            public int size(final Order o) {
                final int n = o.item().getBytes(StandardCharsets.UTF_8).length;
                return 1 + varintSize(n) + n + 1 + varintSize(o.quantity() & 0xFFFF_FFFFL);
            }

            @Override
            public void write(final Order o, final ByteBuffer dst) {
                final byte[] item = o.item().getBytes(StandardCharsets.UTF_8);
                dst.put((byte) (1 << 3 | 2));
                putVarint(dst, item.length);
                dst.put(item);
                dst.put((byte) (2 << 3));
                putVarint(dst, o.quantity() & 0xFFFF_FFFFL);
            }

            @Override
            public Order read(final ByteBuffer src) {
                String item = "";
                int quantity = 0;
                while (src.hasRemaining()) {
                    final int tag = src.get();
                    if (tag == (1 << 3 | 2)) {
                        final byte[] b = new byte[(int) getVarint(src)];
                        src.get(b);
                        item = new String(b, StandardCharsets.UTF_8);
                    } else if (tag == 2 << 3) {
                        quantity = (int) getVarint(src);
                    } else {
                        throw new IllegalArgumentException("unknown tag " + tag);
                    }
                }
                return new Order(item, quantity);
            }
        };

        static int varintSize(long v) {
            int n = 1;
            while ((v >>>= 7) != 0) {
                n++;
            }
            return n;
        }

        static void putVarint(final ByteBuffer b, long v) {
            while ((v & ~0x7FL) != 0) {
                b.put((byte) (v & 0x7F | 0x80));
                v >>>= 7;
            }
            b.put((byte) v);
        }

        static long getVarint(final ByteBuffer b) {
            long v = 0;
            for (int shift = 0; ; shift += 7) {
                final byte x = b.get();
                v |= (long) (x & 0x7F) << shift;
                if (x >= 0) {
                    return v;
                }
            }
        }
    }

    static final class AtomicCounter {
        private final java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();

        void increment() {
            n.incrementAndGet();
        }

        int get() {
            return n.get();
        }
    }

    private BraidServer typedServer() {
        final java.util.concurrent.atomic.AtomicLong sum = new java.util.concurrent.atomic.AtomicLong();
        return server(s -> s
                .handle(MIRROR, (p, call) -> new Point(p.y(), p.x(), p.label().toUpperCase()))
                .handle(MIRROR_INLINE, (p, call) -> new Point(p.y(), p.x(), p.label().toUpperCase()),
                        HandlerMode.NON_BLOCKING)
                .handle(ADD, (n, call) -> {
                    final Total t = new Total();
                    t.value = sum.addAndGet(n);
                    return t;
                })
                .handle(JSON_ORDER, (s2, call) -> s2 + "!")
                .handle(ORDER_JSON, (o, call) -> new Order(o.item() + " x" + o.quantity(), o.quantity() * 2))
                .handle(ORDER_TAGGED, (o, call) -> new Order(o.item() + " x" + o.quantity(), o.quantity() * 2),
                        HandlerMode.NON_BLOCKING)
                .handle(DEFERRED_LENGTH, (text, call) -> {
                    call.deferReply(); // answered later, elsewhere: the return value is ignored
                    final String copy = text;
                    Thread.ofVirtual().start(() -> call.reply(XdrCodec.INT, copy.length()));
                    return -1;
                })
                .handle(FAILING, (text, call) -> {
                    if (text.equals("fail")) {
                        call.fail(RemoteError.of(42, 43, "refused " + text)); // answered itself
                        return 0;
                    }
                    throw new IllegalStateException("boom " + text);
                })
                .handle(RAW_ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING));
    }

    @Test
    void typedBlockingCallsCarryXdrStructsBothWays() {
        final Connection c = connect(typedServer());
        for (ProcedureDescriptor<Point, Point> d : List.of(MIRROR, MIRROR_INLINE)) {
            assertThat(c.call(d, new Point(1, -2, "héllo"))).isEqualTo(new Point(-2, 1, "HÉLLO"));
            assertThat(c.call(d, new Point(0, 0, ""), CallOptions.DEFAULT)).isEqualTo(new Point(0, 0, ""));
            final String big = "x".repeat(300_000); // larger than a read buffer's half: its own frame
            assertThat(c.call(d, new Point(7, 8, big)).label()).hasSize(300_000);
        }
        // decoded into the caller's object: the same instance comes back, filled
        final Total reuse = new Total();
        assertThat(c.call(ADD, 5L, reuse, CallOptions.DEFAULT)).isSameAs(reuse);
        assertThat(reuse.value).isEqualTo(5);
        assertThat(c.call(ADD, 10L, reuse, CallOptions.DEFAULT).value).isEqualTo(15);
        assertThat(c.call(ADD, 1L).value).isEqualTo(16);
        assertThat(c.stats().callsInFlight()).isZero();
    }

    /** JSON and a protobuf-like encoding plug in as marshallers; braid depends on neither. */
    @Test
    void foreignMarshallersPlugInWithoutBraidKnowingThem() throws Exception {
        final Connection c = connect(typedServer());
        final int before = JsonOrder.ENCODES.get();
        assertThat(c.call(ORDER_JSON, new Order("tea \"green\"", 3))).isEqualTo(new Order("tea \"green\" x3", 6));
        assertThat(JsonOrder.ENCODES.get() - before).as("each side encoded its value once").isEqualTo(2);
        assertThat(c.callAsync(ORDER_JSON, new Order("a\\b", -1), CallOptions.DEFAULT).get(30, TimeUnit.SECONDS))
                .isEqualTo(new Order("a\\b x-1", -2));
        assertThat(c.call(ORDER_TAGGED, new Order("ünïcode", 300))).isEqualTo(new Order("ünïcode x300", 600));
        assertThat(c.call(ORDER_TAGGED, new Order("", 0))).isEqualTo(new Order(" x0", 0));
        // what the JSON marshaller put on the wire is plain JSON: a raw echo shows the bytes
        final ByteBuffer json = ByteBuffer.wrap(JsonOrder.toJson(new Order("x", 1)));
        final ByteBuffer back = ByteBuffer.allocate(64);
        final int n = c.call(RAW_ECHO, json, back, CallOptions.DEFAULT);
        assertThat(new String(back.array(), 0, n, StandardCharsets.UTF_8)).isEqualTo("{\"item\":\"x\",\"quantity\":1}");
    }

    @Test
    void typedFuturesCompleteWithDecodedRepliesAndFailures() throws Exception {
        final Connection c = connect(typedServer());
        final List<CompletableFuture<Point>> fs = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            fs.add(c.callAsync(i % 2 == 0 ? MIRROR : MIRROR_INLINE, new Point(i, -i, "p" + i), CallOptions.DEFAULT));
        }
        for (int i = 0; i < 200; i++) {
            assertThat(fs.get(i).get(30, TimeUnit.SECONDS)).isEqualTo(new Point(-i, i, "P" + i));
        }
        assertThat(c.callAsync(DEFERRED_LENGTH, "four", CallOptions.DEFAULT).get(30, TimeUnit.SECONDS)).isEqualTo(4);
        final CompletableFuture<Integer> failed = c.callAsync(FAILING, "fail", CallOptions.DEFAULT);
        assertThatThrownBy(() -> failed.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOfSatisfying(RemoteException.class, e -> {
                    assertThat(e.code()).isEqualTo(42);
                    assertThat(e.remoteMessage()).isEqualTo("refused fail");
                });
        assertThatThrownBy(() -> c.call(FAILING, "x")).isInstanceOfSatisfying(RemoteException.class,
                e -> assertThat(e.remoteMessage()).contains("boom x"));
    }

    /**
     * One TypedReplyHandler serves many calls, each with its own attachment: no map from serials, no
     * object per call. The attachment of every outcome is the one its call was started with.
     */
    @Test
    void oneTypedHandlerServesManyCallsEachWithItsAttachment() throws Exception {
        // the direct form (issue 14 §3 made the callback executor the default): replies on the I/O thread
        final Connection c = connect(config(false).callbackExecutor(dev.braid.BraidConfig.DIRECT_CALLBACKS), typedServer());
        final int calls = 500;
        final Map<Object, Point> replies = new ConcurrentHashMap<>();
        final Map<Object, BraidException> failures = new ConcurrentHashMap<>();
        final List<String> threads = new CopyOnWriteArrayList<>();
        final CountDownLatch done = new CountDownLatch(calls + 1);
        final TypedReplyHandler<Point> handler = new TypedReplyHandler<>() {
            @Override
            public void onReply(final int serial, final Point reply, final Object attachment) {
                replies.put(attachment, reply);
                if (!IoThreads.isIoThread()) {
                    threads.add(Thread.currentThread().getName());
                }
                done.countDown();
            }

            @Override
            public void onFailure(final int serial, final BraidException error, final Object attachment) {
                failures.put(attachment, error);
                done.countDown();
            }
        };
        final Object[] slots = new Object[calls];
        for (int i = 0; i < calls; i++) {
            slots[i] = new int[]{i};
            c.callAsync(i % 3 == 0 ? MIRROR : MIRROR_INLINE, new Point(i, 0, "n"), CallOptions.DEFAULT, handler, slots[i]);
        }
        final TypedReplyHandler<Integer> failing = new TypedReplyHandler<>() {
            @Override
            public void onReply(final int serial, final Integer reply, final Object attachment) {
                done.countDown();
            }

            @Override
            public void onFailure(final int serial, final BraidException error, final Object attachment) {
                failures.put(attachment, error);
                done.countDown();
            }
        };
        c.callAsync(FAILING, "fail", CallOptions.DEFAULT, failing, "the failing one");
        assertThat(done.await(60, TimeUnit.SECONDS)).isTrue();
        for (int i = 0; i < calls; i++) {
            assertThat(replies.get(slots[i])).as("call %d", i).isEqualTo(new Point(0, i, "N"));
        }
        assertThat(failures).containsOnlyKeys("the failing one");
        assertThat(failures.get("the failing one")).isInstanceOf(RemoteException.class);
        assertThat(threads).as("replies are delivered on the I/O thread").isEmpty();
    }

    /**
     * The allocation-free typed paths decode into the object decoded last time: a non-blocking typed server
     * gets its recycled record's previous request object back, a typed reply handler its recycled record's
     * previous reply. Over 100 calls in a row only a couple of distinct objects are ever seen.
     */
    @Test
    void recycledRecordsDecodeIntoThePreviousObject() throws Exception {
        final java.util.Set<Object> requests = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        final ProcedureDescriptor<Total, Total> bump = ProcedureDescriptor.of(Procedure.of(PROG, 1, 11),
                Total.MARSHALLER, Total.MARSHALLER);
        final BraidServer server = server(s -> s.handle(bump, (t, call) -> {
            synchronized (requests) {
                requests.add(t);
            }
            t.value++;
            return t; // the request object, changed, is the reply
        }, HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final java.util.Set<Object> replies = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        final LinkedBlockingQueue<Long> values = new LinkedBlockingQueue<>();
        final TypedReplyHandler<Total> handler = new TypedReplyHandler<>() {
            @Override
            public void onReply(final int serial, final Total reply, final Object attachment) {
                synchronized (replies) {
                    replies.add(reply);
                }
                values.add(reply.value);
            }

            @Override
            public void onFailure(final int serial, final BraidException error, final Object attachment) {
                values.add(-1L);
            }
        };
        final Total request = new Total();
        for (int i = 0; i < 100; i++) {
            request.value = i;
            c.callAsync(bump, request, CallOptions.DEFAULT, handler, null);
            assertThat(values.poll(30, TimeUnit.SECONDS)).isEqualTo(i + 1L);
        }
        synchronized (requests) {
            assertThat(requests.size()).as("distinct request objects the server decoded into").isLessThanOrEqualTo(3);
        }
        synchronized (replies) {
            assertThat(replies.size()).as("distinct reply objects the client decoded into").isLessThanOrEqualTo(3);
        }
    }

    /** The untyped ReplyHandler gets the attachment too; a handler written before attachments still works. */
    @Test
    void replyHandlersGetTheirCallsAttachment() throws Exception {
        final Connection c = connect(typedServer());
        final LinkedBlockingQueue<Object> got = new LinkedBlockingQueue<>();
        final ReplyHandler withAttachment = new ReplyHandler() {
            @Override
            public void onReply(final Procedure p, final int serial, final ByteBuffer payload, final Object attachment) {
                got.add(attachment + ":" + payload.remaining());
            }

            @Override
            public void onFailure(final Procedure p, final int serial, final BraidException error, final Object attachment) {
                got.add(error);
            }
        };
        final ReplyHandler classic = new ReplyHandler() {
            @Override
            public void onReply(final Procedure p, final int serial, final ByteBuffer payload) {
                got.add("classic:" + payload.remaining());
            }

            @Override
            public void onFailure(final Procedure p, final int serial, final BraidException error) {
                got.add(error);
            }
        };
        c.callAsync(RAW_ECHO, ByteBuffer.allocate(3), CallOptions.DEFAULT, withAttachment, "first");
        assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("first:3");
        c.callAsync(RAW_ECHO, ByteBuffer.allocate(5), CallOptions.DEFAULT, withAttachment);
        assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("null:5");
        c.callAsync(RAW_ECHO, ByteBuffer.allocate(7), CallOptions.DEFAULT, classic, "ignored by a classic handler");
        assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("classic:7");
    }

    /** Non-blocking typed forms work on an I/O thread; the blocking one refuses to run there. */
    @Test
    void typedAsyncFormsRunOnIoThreadsAndTheBlockingOneRefuses() throws Exception {
        // the direct form (issue 14 §3 made the callback executor the default): replies on the I/O thread
        final Connection c = connect(config(false).callbackExecutor(dev.braid.BraidConfig.DIRECT_CALLBACKS), typedServer());
        final LinkedBlockingQueue<Object> got = new LinkedBlockingQueue<>();
        c.callAsync(MIRROR_INLINE, new Point(1, 2, "a"), CallOptions.DEFAULT, new TypedReplyHandler<>() {
            @Override
            public void onReply(final int serial, final Point reply, final Object attachment) {
                try {
                    c.call(MIRROR, reply);
                    got.add("the blocking call ran on an I/O thread");
                } catch (BlockingOperationException e) {
                    got.add(e);
                }
                // a typed call from the I/O thread, handler form and future form
                c.callAsync(MIRROR, reply, CallOptions.DEFAULT, new TypedReplyHandler<>() {
                    @Override
                    public void onReply(final int s, final Point again, final Object a) {
                        got.add(again);
                    }

                    @Override
                    public void onFailure(final int s, final BraidException error, final Object a) {
                        got.add(error);
                    }
                }, null);
                c.callAsync(MIRROR_INLINE, reply, CallOptions.DEFAULT).whenComplete((p, e) -> got.add(e != null ? e : p));
            }

            @Override
            public void onFailure(final int serial, final BraidException error, final Object attachment) {
                got.add(error);
            }
        }, null);
        assertThat(got.poll(30, TimeUnit.SECONDS)).isInstanceOfSatisfying(BlockingOperationException.class,
                e -> assertThat(e).hasMessageContaining("Connection.call"));
        final List<Object> rest = List.of(got.poll(30, TimeUnit.SECONDS), got.poll(30, TimeUnit.SECONDS));
        assertThat(rest).containsOnly(new Point(1, 2, "A"));
    }

    @Test
    void typedServerHandlersAnswerDeferOrFail() {
        final Connection c = connect(typedServer());
        assertThat(c.call(DEFERRED_LENGTH, "deferred")).isEqualTo(8);
        assertThatThrownBy(() -> c.call(FAILING, "fail")).isInstanceOfSatisfying(RemoteException.class,
                e -> assertThat(e.domain()).isEqualTo(43));
        assertThatThrownBy(() -> c.call(FAILING, "other")).isInstanceOfSatisfying(RemoteException.class, e -> {
            assertThat(e.code()).isEqualTo(RemoteError.VIR_ERR_INTERNAL_ERROR);
            assertThat(e.remoteMessage()).contains("java.lang.IllegalStateException: boom other");
        });
        assertThat(c.isOpen()).isTrue();
    }

    /**
     * A request the server's marshaller cannot decode is answered VIR_ERR_RPC naming the procedure, without
     * running the handler; a reply the client's cannot decode fails that call (PROTOCOL) and nothing else.
     */
    @Test
    void undecodableRequestsAndRepliesFailOnlyTheirCall() throws Exception {
        final Connection c = connect(typedServer());
        // a request that is not a point: 3 bytes
        assertThatThrownBy(() -> c.call(MIRROR.procedure(), new byte[3])).isInstanceOfSatisfying(RemoteException.class, e -> {
            assertThat(e.code()).isEqualTo(RemoteError.VIR_ERR_RPC);
            assertThat(e.remoteMessage()).isEqualTo("cannot decode the arguments of " + MIRROR.procedure()
                    + ": malformed XDR: x needs 4 bytes, 3 left");
        });
        assertThatThrownBy(() -> c.call(MISMATCHED, "ab")).isInstanceOfSatisfying(BraidException.class, e -> {
            assertThat(e.category()).isEqualTo(BraidException.Category.PROTOCOL);
            assertThat(e).hasMessageStartingWith("cannot decode the reply to " + MISMATCHED.procedure() + ": malformed XDR");
        });
        final CompletableFuture<Point> f = c.callAsync(MISMATCHED, "ab", CallOptions.DEFAULT);
        assertThatThrownBy(() -> f.get(30, TimeUnit.SECONDS)).cause().isInstanceOfSatisfying(BraidException.class,
                e -> assertThat(e.category()).isEqualTo(BraidException.Category.PROTOCOL));
        final LinkedBlockingQueue<Object> got = new LinkedBlockingQueue<>();
        c.callAsync(MISMATCHED, "ab", CallOptions.DEFAULT, new TypedReplyHandler<>() {
            @Override
            public void onReply(final int serial, final Point reply, final Object attachment) {
                got.add(reply);
            }

            @Override
            public void onFailure(final int serial, final BraidException error, final Object attachment) {
                got.add(attachment + ": " + error.category());
            }
        }, "ctx");
        assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("ctx: PROTOCOL");
        assertThat(c.isOpen()).isTrue();
        assertThat(c.call(MIRROR, new Point(1, 1, "still fine"))).isEqualTo(new Point(1, 1, "STILL FINE"));
    }

    /** A marshaller that writes other than the size it declared is refused before anything is sent. */
    @Test
    void aMarshallerThatLiesAboutItsSizeIsRefusedAndNothingLeaks() {
        final Marshaller<String> liar = new Marshaller<>() {
            @Override
            public int size(final String v) {
                return 8;
            }

            @Override
            public void write(final String v, final ByteBuffer dst) {
                dst.putInt(1); // 4 of the 8 declared
            }

            @Override
            public String read(final ByteBuffer src) {
                return "";
            }
        };
        final Connection c = connect(typedServer());
        final ProcedureDescriptor<String, String> d = ProcedureDescriptor.of(JSON_ORDER.procedure(), liar, XdrCodec.STRING);
        assertThatThrownBy(() -> c.call(d, "x")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("wrote 4 bytes; its size() said 8");
        final Marshaller<String> overrun = new Marshaller<>() {
            @Override
            public int size(final String v) {
                return 4;
            }

            @Override
            public void write(final String v, final ByteBuffer dst) {
                dst.putLong(1); // past what it declared: the frame's limit stops it
            }

            @Override
            public String read(final ByteBuffer src) {
                return "";
            }
        };
        assertThatThrownBy(() -> c.call(ProcedureDescriptor.of(JSON_ORDER.procedure(), overrun, XdrCodec.STRING), "x"))
                .isInstanceOf(java.nio.BufferOverflowException.class);
        // too large for the largest message: LimitExceededException, nothing sent
        final ProcedureDescriptor<byte[], String> huge = ProcedureDescriptor.of(JSON_ORDER.procedure(), XdrCodec.OPAQUE,
                XdrCodec.STRING);
        assertThatThrownBy(() -> c.call(huge, new byte[40 << 20])).isInstanceOfSatisfying(LimitExceededException.class,
                e -> assertThat(e.limit()).isEqualTo("maxMessageSize"));
        assertThat(c.call(JSON_ORDER, "ok")).isEqualTo("ok!");
        assertThat(c.stats().callsInFlight()).isZero();
    }

    /** The into-buffer call keeps an oversized reply in its exception instead of losing it. */
    @Test
    void anOversizedReplyIsKeptInTheException() {
        final Connection c = connect(typedServer());
        final byte[] payload = new byte[5000];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 7);
        }
        final ByteBuffer small = ByteBuffer.allocateDirect(100);
        final ReplyTooLargeException e = org.assertj.core.api.Assertions.catchThrowableOfType(
                ReplyTooLargeException.class, () -> c.call(RAW_ECHO, ByteBuffer.wrap(payload), small, CallOptions.DEFAULT));
        assertThat(e.limit()).isEqualTo("replyBuffer");
        assertThat(e.value()).isEqualTo(100);
        assertThat(e.replyLength()).isEqualTo(5000);
        final byte[] kept = new byte[e.replyLength()];
        e.reply().get(kept);
        assertThat(kept).isEqualTo(payload);
        assertThat(small.position()).isZero();
        // retry with the size it named
        final ByteBuffer enough = ByteBuffer.allocate(e.replyLength());
        assertThat(c.call(RAW_ECHO, ByteBuffer.wrap(payload), enough, CallOptions.DEFAULT)).isEqualTo(5000);
    }

    /** Events can be typed too: the value is encoded straight into the MESSAGE frame. */
    @Test
    void typedEventsAreEncodedStraightIntoTheirFrame() throws Exception {
        final LinkedBlockingQueue<Point> got = new LinkedBlockingQueue<>();
        final BraidServer server = server(s -> s.onEvent(POINT_EVENT, (Event e) -> got.add(POINT.read(e.payload()))));
        final Connection c = connect(server);
        c.sendEvent(POINT_EVENT, POINT, new Point(3, 4, "event"));
        assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo(new Point(3, 4, "event"));
    }
}
