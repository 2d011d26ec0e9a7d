package dev.braid.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * braid's JDK Flight Recorder events: only the rare and the slow, so that a recording left on in
 * production costs nothing on the data path. Each is an instant event committed where the thing happens
 * (see {@link Observation}); none records a stack trace. docs/design.md ("What an operator sees") lists
 * them with a {@code jfr print} example.
 *
 * <p><b>Threads.</b> Events are created and committed on the thread where the thing happened; an event
 * object is never shared.
 */
public final class JfrEvents {
    /**
     * Loads and initialises every event class now. A class first loaded while the process has no file
     * descriptor left fails for good ({@code NoClassDefFoundError}: the class loader must open its jar): under
     * the descriptors attack a loom reader died closing a connection that way, at its first abnormal close
     * (issue 11 §1.5). {@code BraidServer.bind} calls this, as it sets up logging, while descriptors are there.
     */
    public static void preload() {
        for (Class<?> c : JfrEvents.class.getDeclaredClasses()) {
            try {
                Class.forName(c.getName(), true, c.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private JfrEvents() {
    }

    /** A connection closed for a reason other than an orderly close by either side. */
    @Name("dev.braid.ConnectionClosedAbnormally")
    @Label("Connection Closed Abnormally")
    @Category({"braid", "Connections"})
    @Description("A braid connection ended by a reset, a protocol error, an unresponsive peer or an internal error")
    @StackTrace(false)
    public static final class ConnectionClosedAbnormally extends Event {
        @Label("Remote Address")
        public String remoteAddress;
        @Label("Side")
        public String side;
        @Label("Reason")
        public String reason;
        @Label("Message")
        public String message;
    }

    /** The peer broke the protocol. */
    @Name("dev.braid.ProtocolError")
    @Label("Protocol Error")
    @Category({"braid", "Connections"})
    @Description("A peer broke the protocol; its connection is closed")
    @StackTrace(false)
    public static final class ProtocolError extends Event {
        @Label("Remote Address")
        public String remoteAddress;
        @Label("Side")
        public String side;
        @Label("Message")
        public String message;
    }

    /** A stream ended without finishing cleanly. */
    @Name("dev.braid.StreamAborted")
    @Label("Stream Aborted")
    @Category({"braid", "Streams"})
    @Description("A braid stream was aborted by either side or failed with its connection")
    @StackTrace(false)
    public static final class StreamAborted extends Event {
        @Label("Remote Address")
        public String remoteAddress;
        @Label("Side")
        public String side;
        @Label("Procedure")
        public String procedure;
        @Label("Serial")
        public long serial;
        @Label("Bytes Sent")
        @jdk.jfr.DataAmount
        public long bytesSent;
        @Label("Bytes Received")
        @jdk.jfr.DataAmount
        public long bytesReceived;
        @Label("Lifetime")
        @Timespan
        public long lifetime;
        @Label("Reason")
        public String reason;
    }

    /** A connection stopped reading its socket for a while (recorded when reading resumes). */
    @Name("dev.braid.ReadSuspended")
    @Label("Read Suspended")
    @Category({"braid", "Connections"})
    @Description("A braid connection stopped reading its socket for a reason (recorded when the reason went away)")
    @StackTrace(false)
    public static final class ReadSuspended extends Event {
        @Label("Remote Address")
        public String remoteAddress;
        @Label("Side")
        public String side;
        @Label("Reason")
        public String reason;
        @Label("Suspended For")
        @Timespan
        public long suspended;
    }

    /** A limit refused a call, event, stream or message. */
    @Name("dev.braid.LimitRefused")
    @Label("Limit Refused")
    @Category({"braid", "Limits"})
    @Description("A call, event, stream or message was refused because a braid limit was reached")
    @StackTrace(false)
    public static final class LimitRefused extends Event {
        @Label("Remote Address")
        public String remoteAddress;
        @Label("Side")
        public String side;
        @Label("Limit")
        public String limit;
        @Label("Value")
        public long value;
        @Label("Detail")
        public String detail;
    }

    /** A call took at least {@code BraidConfig.slowCallThreshold} to end. */
    @Name("dev.braid.SlowCall")
    @Label("Slow Call")
    @Category({"braid", "Calls"})
    @Description("A braid call took at least the configured slowCallThreshold to end")
    @StackTrace(false)
    public static final class SlowCall extends Event {
        @Label("Remote Address")
        public String remoteAddress;
        @Label("Side")
        public String side;
        @Label("Procedure")
        public String procedure;
        @Label("Serial")
        public long serial;
        @Label("Outcome")
        public String outcome;
        @Label("Latency")
        @Timespan
        public long latency;
        @Label("Threshold")
        @Timespan
        public long threshold;
    }
}
