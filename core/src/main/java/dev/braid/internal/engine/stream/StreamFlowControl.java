package dev.braid.internal.engine.stream;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One stream's flow control, both directions: the one place that answers "why did this packet wait?" and
 * "why did this CREDIT go out?".
 *
 * <h2>Sending</h2>
 * The peer grants a window ({@link #sendWindow}, its HELLO's initial window). {@link #sendCredit} is what is
 * left of it: a data or hole packet costs {@link #cost} bytes of it; the peer's CREDIT messages give bytes
 * back. A packet waits ({@link #mustWait}) while the credit does not cover it, or while the stream already has
 * its share of the connection's {@link SendBudget} in flight. A stream that must wait is parked by the
 * scheduler with {@link #parkForCredit()}; the CREDIT that ends the wait re-offers it
 * ({@link #creditReturned} returns true exactly once per park).
 *
 * <h2>Receiving</h2>
 * The receiver advertises {@link #receiveWindow}, the connection's (a {@link ReceiveWindow}, which
 * auto-tuning moves). Each packet received adds its cost to {@link #queued} ({@link #admit}); a peer that
 * would exceed the largest window this side ever granted on the connection is refused (the caller aborts
 * the stream): a window that shrank may still have the old window's bytes in flight. Each
 * packet consumed by the application ({@link #consumed}, on any thread: packets may be closed anywhere)
 * moves its cost from {@code queued} to {@link #toReturn}; the caller then sends a CREDIT for whatever
 * {@code consumed} hands back: a quarter of the window, at most the packet's cost ({@link #creditBatch}),
 * batches credit (with large auto-tuned windows a sender then never waits long for credit a window of about
 * one bandwidth-delay product needs back), and an empty queue returns what is
 * held whatever its size, because the sender may be waiting for exactly that (with a window under four
 * maximal packets, credit held back here while the next big packet needs it would stop both sides).
 *
 * <p><b>Threads.</b> Every method may be called from any thread, except where noted: {@link #took} and
 * {@link #mustWait} run on the connection's writer (the scheduler), {@link #admit} on its reader. All state
 * is atomic: {@code queued} is decremented before the cost is added to {@code toReturn}, and
 * {@code toReturn} is emptied with an atomic swap, so every consumed byte is returned exactly once, and
 * never before the packet that carried it stopped counting against the window.
 */
final class StreamFlowControl {
    /**
     * Smallest window cost of a data or hole packet. A packet costs {@code max(frame length, 512)} bytes of
     * window, so a peer sending tiny packets cannot make the receiver hold more pooled memory than about
     * four times its window (512 bytes is the pool's smallest buffer; size classes are 4x apart). It is
     * also the smallest window a peer may advertise (HELLO refuses less): a smaller one could never carry a
     * packet.
     */
    static final int MIN_PACKET_COST = dev.braid.internal.wire.Extension.MIN_PACKET_COST;
    /**
     * Window cost of a maximal stream packet: header (28 bytes) plus libvirt's largest payload (262,120),
     * 262,148 bytes. Default windows and budgets are whole multiples of it, and a stream's share of the send
     * budget is never below it.
     */
    static final long FULL_PACKET_COST = dev.braid.internal.wire.FrameHeader.HEADER_LENGTH
            + dev.braid.internal.wire.FrameHeader.MAX_STREAM_PAYLOAD;
    /** Least credit a receiver batches before a CREDIT goes (see {@link #creditBatch}). */
    static final long MIN_CREDIT_BATCH = 32 * 1024;
    private static final long UNLIMITED = Long.MAX_VALUE / 2;
    private static final VarHandle IN_FLIGHT_COUNTED;
    private static final VarHandle WAITING_CREDIT;

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            IN_FLIGHT_COUNTED = l.findVarHandle(StreamFlowControl.class, "inFlightCounted", boolean.class);
            WAITING_CREDIT = l.findVarHandle(StreamFlowControl.class, "waitingCredit", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Window cost of a packet of {@code frameLength} bytes carrying {@code payload} bytes (0: no cost). */
    static long cost(final int frameLength, final long payload) {
        return payload > 0 ? Math.max(frameLength, MIN_PACKET_COST) : 0;
    }

    /** With extensions: windows and credits. Without (libvirt mode): no window, sending is never held. */
    final boolean enabled;
    /**
     * The window the peer grants this stream now: its HELLO's initial window, then what its WINDOW messages
     * say (auto-tuning). Written by the reader only ({@link #peerWindowChanged}), read by the writer.
     */
    private volatile long sendWindow;
    /** The window this side grants: the connection's, shared by its streams (auto-tuning moves it). */
    private final ReceiveWindow receiveWindow;
    private final SendBudget budget;
    private final AtomicLong sendCredit;
    private final AtomicLong queued = new AtomicLong();
    /** Sent and not yet credited back, as the send budget's total counts it (window changes aside). */
    private final AtomicLong outstanding = new AtomicLong();
    private final AtomicLong toReturn = new AtomicLong();
    @SuppressWarnings("unused") // accessed through IN_FLIGHT_COUNTED
    private volatile boolean inFlightCounted;
    @SuppressWarnings("unused") // accessed through WAITING_CREDIT
    private volatile boolean waitingCredit;

    StreamFlowControl(final boolean enabled, final long sendWindow, final long receiveWindow,
                      final SendBudget budget) {
        this(enabled, sendWindow, new ReceiveWindow(receiveWindow), budget);
    }

    StreamFlowControl(final boolean enabled, final long sendWindow, final ReceiveWindow receiveWindow,
                      final SendBudget budget) {
        this.enabled = enabled;
        this.sendWindow = enabled ? sendWindow : UNLIMITED;
        this.receiveWindow = receiveWindow;
        this.budget = budget;
        this.sendCredit = new AtomicLong(this.sendWindow);
    }

    // ------------------------------------------------------------------ sending

    /**
     * Writer: whether a packet costing {@code cost} must wait: the peer's window is used up, or the stream
     * already has its share of the connection's send budget in flight.
     */
    boolean mustWait(final long cost) {
        if (!enabled || cost == 0) {
            return false;
        }
        final long credit = sendCredit.get();
        if (credit < cost && credit < sendWindow) {
            // Not enough credit, and something in flight that will bring some back. With nothing in flight a
            // packet may go even if it costs more than the window: the window shrank (auto-tuning) below a
            // packet queued before, or before the peer's packets grew smaller; the receiver admits up to the
            // largest window it ever granted, at least the HELLO's, which bounds every packet (StreamTable.
            // maxPacket). Without this such a packet waited for credit that could never come.
            return true;
        }
        final long inFlight = sendWindow - credit;
        return inFlight > 0 && !budget.allows(inFlight, cost);
    }

    /**
     * Writer, after {@link #mustWait} said yes: parks the stream for credit, then looks again (credit that
     * arrived before the flag was seen would otherwise be missed). Returns true if it must still wait: the
     * next CREDIT re-offers it. False: it may go now (the flag is cleared).
     */
    boolean parkForCredit(final long cost) {
        WAITING_CREDIT.setVolatile(this, true);
        if (mustWait(cost)) {
            return true;
        }
        WAITING_CREDIT.setVolatile(this, false); // if a CREDIT re-offered it meanwhile, that offer is harmless
        return false;
    }

    /** Writer: a packet costing {@code cost} leaves. The first byte in flight enters the budget's count. */
    void took(final long cost) {
        if (cost == 0 || !enabled) {
            return;
        }
        outstanding.addAndGet(cost);
        budget.sent(cost);
        final long before = sendCredit.getAndAdd(-cost);
        if (before >= sendWindow && IN_FLIGHT_COUNTED.compareAndSet(this, false, true)) {
            budget.enter();
        }
    }

    /**
     * Reader: the peer returned {@code bytes}. Nothing left in flight leaves the budget's count.
     *
     * @return true if the stream was parked for credit: the caller must offer it to the scheduler again
     */
    boolean creditReturned(final long bytes) {
        returned(bytes);
        return windowGrew(bytes);
    }

    /** Reader: {@code bytes} of what this stream sent came back: they leave the budget's total. */
    private void returned(final long bytes) {
        long o;
        long back;
        do {
            o = outstanding.get();
            back = Math.min(o, bytes);
        } while (back > 0 && !outstanding.compareAndSet(o, o - back));
        if (back > 0) {
            budget.returned(back);
        }
    }

    /** Credit added (returned or granted): leaves the budget's count if nothing is in flight. */
    private boolean windowGrew(final long bytes) {
        if (sendCredit.addAndGet(bytes) >= sendWindow) {
            leaveBudget();
        }
        return (boolean) WAITING_CREDIT.getVolatile(this) && WAITING_CREDIT.compareAndSet(this, true, false);
    }

    /** The stream has nothing in flight, or is over: leaves the budget's count (once). Any thread. */
    void leaveBudget() {
        if (IN_FLIGHT_COUNTED.compareAndSet(this, true, false)) {
            budget.leave();
        }
    }

    /** The stream is over: what it still had in flight leaves the budget's total (credit will not come). */
    void ended() {
        leaveBudget();
        final long o = outstanding.getAndSet(0);
        if (o > 0) {
            budget.returned(o);
        }
    }

    /**
     * Reader: the peer's window for this stream is now {@code window} (a WINDOW message). The difference is
     * credit given (or, when it shrinks, taken back: the stream then waits until enough is returned), so
     * what is in flight ({@code window - credit}) stays what it was. Growing, the window is raised before
     * the credit; shrinking, the credit is lowered first: a writer reading the two in between sees more in
     * flight than there is, never less, and at worst waits for the next CREDIT.
     *
     * @return true if the stream was parked for credit: the caller must offer it to the scheduler again
     */
    boolean peerWindowChanged(final long window) {
        if (!enabled) {
            return false;
        }
        final long before = sendWindow;
        if (window > before) {
            sendWindow = window;
            return windowGrew(window - before);
        }
        sendCredit.addAndGet(window - before);
        sendWindow = window;
        return false;
    }

    /** The peer's window for this stream now. Any thread. */
    long sendWindow() {
        return sendWindow;
    }

    /** The window this side grants each stream now (the connection's). Any thread. */
    long receiveWindow() {
        return receiveWindow.current();
    }

    /** The most a peer may have queued here unconsumed: the largest window granted on the connection. */
    long receiveLimit() {
        return receiveWindow.limit();
    }

    /** Credit left in the peer's window (for stats and tests). */
    long sendCredit() {
        return sendCredit.get();
    }

    // ------------------------------------------------------------------ receiving

    /**
     * Reader: a packet costing {@code cost} arrived. Returns the bytes queued before it, or -1 if it would
     * exceed the window (nothing counted; the caller aborts the stream). Only the reader adds, so the check
     * and the add cannot be overtaken by another add.
     */
    long admit(final long cost) {
        final long before = queued.get();
        if (enabled && before + cost > receiveWindow.limit()) {
            return -1;
        }
        return queued.getAndAdd(cost);
    }

    /**
     * Any thread: the application consumed a packet costing {@code cost}. Returns the bytes of credit the
     * caller must now send in a CREDIT message (0: none yet). {@code streamOpen} false (finished or failed)
     * returns nothing: credit for a stream that is over would only be dropped by the peer.
     */
    long consumed(final long cost, final boolean streamOpen) {
        final long left = queued.addAndGet(-cost);
        if (!enabled || !streamOpen || cost == 0) {
            return 0;
        }
        final long held = toReturn.addAndGet(cost);
        if (held >= creditBatch(receiveWindow.current(), cost) || left == 0) {
            return toReturn.getAndSet(0);
        }
        return 0;
    }

    /**
     * Credit held back before a CREDIT goes, after a packet costing {@code cost} was consumed under a window
     * of {@code window}: a quarter of the window, but at most the packet (so a window of about one
     * bandwidth-delay product plus a couple of packets keeps the link busy, whatever size the sender's
     * packets are), and at least {@link #MIN_CREDIT_BATCH} (tiny packets are credited in batches).
     */
    static long creditBatch(final long window, final long cost) {
        return Math.max(Math.min(window / 4, Math.max(cost, MIN_CREDIT_BATCH)), 1);
    }

    /** Any thread: a queued packet was dropped (abort, close): it leaves the window without credit. */
    void dropped(final long cost) {
        queued.addAndGet(-cost);
    }

    /** Cost of the packets received and not yet consumed. Any thread. */
    long queued() {
        return queued.get();
    }

    /** Credit consumed here and not yet sent back (for tests). */
    long heldCredit() {
        return toReturn.get();
    }
}
