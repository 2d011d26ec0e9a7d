package dev.braid.cli;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The demo's latency chart as a PNG, drawn with {@code java.awt} in headless mode: percentiles p50 ... max on
 * the x axis, call latency on a log-scaled microsecond axis; one colour and marker per backend, a solid line
 * for calls alone and a dashed one for calls beside streams. Not thread-safe: create, write, drop.
 */
final class DemoChart {
    /** The x axis: percentiles in percent, then the maximum. */
    static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};
    private static final String[] X_LABELS = {"p50", "p90", "p99", "p99.9", "p99.99", "max"};

    /** Okabe-Ito colours: distinguishable with the common colour-vision deficiencies. */
    private static final Color[] COLOURS = {
            new Color(0x0072B2), new Color(0xD55E00), new Color(0x009E73), new Color(0xCC79A7),
            new Color(0xE69F00), new Color(0x56B4E9), new Color(0x000000)};
    private static final float[] DASH = {9f, 6f};

    private static final int WIDTH = 1000;
    private static final int HEIGHT = 600;
    private static final int LEFT = 100;
    private static final int TOP = 80;
    private static final int PLOT_RIGHT = WIDTH - 270;
    private static final int PLOT_BOTTOM = HEIGHT - 80;

    /**
     * One line.
     *
     * @param backend legend name; the lines of one backend share a colour and a marker
     * @param beside  false for calls alone (solid), true for calls beside streams (dashed)
     * @param micros  latency at each of {@link #PERCENTILES} then the maximum, microseconds
     */
    record Series(String backend, boolean beside, double[] micros) {
    }

    private final String title;
    private final String subtitle;
    private final String besideLabel;
    private final List<Series> series;
    private final List<String> backends = new ArrayList<>();

    DemoChart(final String title, final String subtitle, final String besideLabel, final List<Series> series) {
        this.title = title;
        this.subtitle = subtitle;
        this.besideLabel = besideLabel;
        this.series = List.copyOf(series);
        for (Series s : series) {
            if (!backends.contains(s.backend())) {
                backends.add(s.backend());
            }
        }
    }

    /** Writes the PNG, creating missing parent directories. Sets {@code java.awt.headless} if unset. */
    void writePng(final Path file) throws IOException {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        final BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        final Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            draw(g);
        } finally {
            g.dispose();
        }
        final Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        // through our own stream: ImageIO.write(File) prints a stack trace of its own when it cannot open it
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(file))) {
            if (!ImageIO.write(image, "png", os)) {
                throw new IOException("this JDK has no PNG writer");
            }
        }
    }

    private void draw(final Graphics2D g) {
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);
        text(g, WIDTH / 2.0, 32, title, 19, 0.5, true, Color.BLACK);
        text(g, WIDTH / 2.0, 56, subtitle, 13, 0.5, false, Color.DARK_GRAY);

        double min = Double.POSITIVE_INFINITY;
        double max = 0;
        for (Series s : series) {
            for (double v : s.micros()) {
                if (v > 0) {
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
            }
        }
        if (max == 0) {
            min = 1;
            max = 10;
        }
        final int loDecade = (int) Math.floor(Math.log10(min));
        final int hiDecade = Math.max((int) Math.ceil(Math.log10(max)), loDecade + 1);
        final double plotHeight = PLOT_BOTTOM - TOP;
        final java.util.function.DoubleUnaryOperator y =
                v -> PLOT_BOTTOM - (Math.log10(v) - loDecade) / (hiDecade - loDecade) * plotHeight;
        final double step = (PLOT_RIGHT - LEFT - 60.0) / (X_LABELS.length - 1);
        final java.util.function.IntToDoubleFunction x = i -> LEFT + 30 + i * step;

        // grid: every decade labelled; 2 and 5 labelled too when there are few decades
        final Color grid = new Color(0xD0D0D0);
        final Color minorGrid = new Color(0xEEEEEE);
        for (int d = loDecade; d <= hiDecade; d++) {
            final double decade = Math.pow(10, d);
            if (d < hiDecade) {
                for (int k = 2; k <= 9; k++) {
                    final double yy = y.applyAsDouble(k * decade);
                    line(g, LEFT, yy, PLOT_RIGHT, yy, minorGrid, 1, false);
                    if (hiDecade - loDecade <= 3 && (k == 2 || k == 5)) {
                        text(g, LEFT - 8, yy + 4, micros(k * decade), 11, 1, false, Color.GRAY);
                    }
                }
            }
            final double yy = y.applyAsDouble(decade);
            line(g, LEFT, yy, PLOT_RIGHT, yy, grid, 1, false);
            text(g, LEFT - 8, yy + 5, micros(decade), 13, 1, false, Color.BLACK);
        }
        for (int i = 0; i < X_LABELS.length; i++) {
            final double xx = x.applyAsDouble(i);
            line(g, xx, TOP, xx, PLOT_BOTTOM, grid, 1, false);
            text(g, xx, PLOT_BOTTOM + 22, X_LABELS[i], 13, 0.5, false, Color.BLACK);
        }
        g.setColor(Color.BLACK);
        g.setStroke(new BasicStroke(1));
        g.draw(new Rectangle2D.Double(LEFT, TOP, PLOT_RIGHT - LEFT, PLOT_BOTTOM - TOP));
        text(g, (LEFT + PLOT_RIGHT) / 2.0, PLOT_BOTTOM + 50, "percentile of calls", 14, 0.5, false, Color.BLACK);
        final AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2, 30, (TOP + PLOT_BOTTOM) / 2.0);
        text(g, 30, (TOP + PLOT_BOTTOM) / 2.0, "call round trip, µs (log scale)", 14, 0.5, false, Color.BLACK);
        g.setTransform(saved);

        for (Series s : series) {
            final int k = backends.indexOf(s.backend());
            final Color colour = COLOURS[k % COLOURS.length];
            double px = Double.NaN;
            double py = Double.NaN;
            for (int i = 0; i < X_LABELS.length && i < s.micros().length; i++) {
                final double v = s.micros()[i];
                if (!(v > 0)) {
                    px = Double.NaN;
                    continue;
                }
                final double xx = x.applyAsDouble(i);
                final double yy = y.applyAsDouble(v);
                if (!Double.isNaN(px)) {
                    line(g, px, py, xx, yy, colour, 2.5f, s.beside());
                }
                marker(g, xx, yy, k, colour);
                px = xx;
                py = yy;
            }
        }

        // legend: one entry per backend (colour, marker), then the two line styles
        final double lx = PLOT_RIGHT + 25;
        double ly = TOP + 10;
        text(g, lx, ly, "backend", 14, 0, true, Color.BLACK);
        ly += 24;
        for (int k = 0; k < backends.size(); k++) {
            final Color colour = COLOURS[k % COLOURS.length];
            line(g, lx, ly - 5, lx + 40, ly - 5, colour, 2.5f, false);
            marker(g, lx + 20, ly - 5, k, colour);
            text(g, lx + 50, ly, backends.get(k), 14, 0, false, Color.BLACK);
            ly += 24;
        }
        ly += 14;
        text(g, lx, ly, "line", 14, 0, true, Color.BLACK);
        ly += 24;
        line(g, lx, ly - 5, lx + 40, ly - 5, Color.DARK_GRAY, 2.5f, false);
        text(g, lx + 50, ly, "calls alone", 14, 0, false, Color.BLACK);
        ly += 24;
        line(g, lx, ly - 5, lx + 40, ly - 5, Color.DARK_GRAY, 2.5f, true);
        text(g, lx + 50, ly, besideLabel, 14, 0, false, Color.BLACK);
    }

    /** "10 µs", "1 ms", "2 s" for an axis label. */
    static String micros(final double us) {
        if (us >= 1e6) {
            return trim(us / 1e6) + " s";
        }
        if (us >= 1e3) {
            return trim(us / 1e3) + " ms";
        }
        if (us >= 1) {
            return trim(us) + " µs";
        }
        return trim(us * 1e3) + " ns";
    }

    private static String trim(final double v) {
        return String.format(Locale.ROOT, "%.3f", v).replaceAll("\\.?0+$", "");
    }

    private static void line(final Graphics2D g, final double x1, final double y1, final double x2,
                             final double y2, final Color colour, final float width, final boolean dashed) {
        g.setColor(colour);
        g.setStroke(dashed ? new BasicStroke(width, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, DASH, 0f)
                : new BasicStroke(width));
        g.draw(new Line2D.Double(x1, y1, x2, y2));
    }

    /** Shape {@code shape % 4}: circle, square, triangle, diamond; filled, white edge. */
    private static void marker(final Graphics2D g, final double x, final double y, final int shape,
                               final Color colour) {
        final double r = 5;
        final Shape s = switch (shape % 4) {
            case 0 -> new Ellipse2D.Double(x - r, y - r, 2 * r, 2 * r);
            case 1 -> new Rectangle2D.Double(x - r, y - r, 2 * r, 2 * r);
            case 2 -> polygon(x, y - r - 1, x + r + 1, y + r, x - r - 1, y + r);
            default -> polygon(x, y - r - 1, x + r + 1, y, x, y + r + 1, x - r - 1, y);
        };
        g.setColor(colour);
        g.fill(s);
        g.setColor(Color.WHITE);
        g.setStroke(new BasicStroke(1));
        g.draw(s);
    }

    private static Shape polygon(final double... xy) {
        final Path2D p = new Path2D.Double();
        p.moveTo(xy[0], xy[1]);
        for (int i = 2; i < xy.length; i += 2) {
            p.lineTo(xy[i], xy[i + 1]);
        }
        p.closePath();
        return p;
    }

    /** Draws {@code s} with its left edge at {@code x - anchor * width} (0 start, 0.5 middle, 1 end). */
    private static void text(final Graphics2D g, final double x, final double y, final String s, final float size,
                             final double anchor, final boolean bold, final Color colour) {
        g.setFont(new Font(Font.SANS_SERIF, bold ? Font.BOLD : Font.PLAIN, Math.round(size)));
        g.setColor(colour);
        final double w = g.getFontMetrics().getStringBounds(s, g).getWidth();
        g.drawString(s, (float) (x - anchor * w), (float) y);
    }
}
