using RegPS.Engine.Images;
using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>
/// The stereo (red/green) overlay DIPY's registration tutorials use to judge an alignment: each image is divided by
/// its own maximum and scaled to 0..255 (negative values clamp to 0), the static image goes in the red channel
/// (red and blue for <see cref="OverlayColours.MagentaGreen"/>) and the moving image in the green channel, so
/// structures that agree look yellow (white), and misaligned ones show red/magenta and green fringes.
/// Both images must share one grid: resample the moving image into the static grid first.
/// </summary>
public static class StereoOverlay
{
    /// <summary>Renders the overlay (and the grey or colour panels, for <see cref="OverlayLayout.ThreePanel"/>) as a bitmap.</summary>
    /// <exception cref="ArgumentException">The images are on different grids, or are 4D.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The slice is outside the image, or the scale is not positive.</exception>
    public static SKBitmap Render(Image @static, Image moving, OverlayOptions? options = null)
    {
        SkiaNative.EnsureResolver();
        var o = options ?? OverlayOptions.Default;
        var (rgb, w, h) = RenderRgb(@static, moving, o);
        var bitmap = Raster.FromRgb(rgb, w, h);
        bool three = o.Layout == OverlayLayout.ThreePanel;
        int pw = three ? (w - 2 * o.PanelGap) / 3 : w;
        if (o.OrientationLetters && @static.Dimension == 3)
        {
            // The plane's across and up axes, as Plane.Extract cuts them, and which way up they are drawn.
            var (a, u, _) = Slices.Axes(o.Axis);
            var letters = Annotations.Letters(@static.Grid, a, u, o.IndexIncreasesUp ?? true);
            using var canvas = new SKCanvas(bitmap);
            for (int p = 0; p < (three ? 3 : 1); p++)
                Annotations.DrawLetters(canvas, new SKRect(p * (pw + o.PanelGap), 0, p * (pw + o.PanelGap) + pw, h), letters);
            canvas.Flush();
        }
        if (!o.HasTitles) return bitmap;
        var titles = three
            ? new (string?, int, int)[] { (o.StaticTitle, 0, pw), (o.MovingTitle, pw + o.PanelGap, pw), (o.OverlayTitle, 2 * (pw + o.PanelGap), pw) }
            : new (string?, int, int)[] { (o.OverlayTitle, 0, w) };
        using (bitmap) return Annotations.WithTitles(bitmap, titles);
    }

    /// <summary>Height in pixels of the strip added above the panels when there are titles.</summary>
    public const int TitleStripHeight = Annotations.TitleStripHeight;

    /// <summary>Renders and writes a PNG atomically (temporary file then rename; an existing file is replaced only when <paramref name="overwrite"/>).</summary>
    public static void WritePng(Image @static, Image moving, string path, OverlayOptions? options = null, bool overwrite = false)
    {
        SkiaNative.EnsureResolver();
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var bitmap = Render(@static, moving, options);
        Raster.WritePng(bitmap, path, overwrite);
    }

    internal static (byte[] Rgb, int Width, int Height) RenderRgb(Image s, Image m, OverlayOptions o)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(o);
        if (!s.Grid.SameAs(m.Grid))
            throw new ArgumentException(
                $"The static and moving images are on different grids (static {s.Grid}, moving {m.Grid}); an overlay compares voxel by voxel. " +
                "Resample the moving image onto the static image's grid first (Convert-RegImage -Reference), or register them and transform the moving image.",
                "moving");
        if (s.Volumes != 1 || m.Volumes != 1)
            throw new ArgumentException("The overlay shows one volume; pick one with Image.Volume(index) first.", "moving");
        if (o.PanelGap < 0) throw new ArgumentOutOfRangeException(nameof(o), "PanelGap cannot be negative.");

        var sp = Plane.Extract(s, o.Axis, o.Slice, o.IndexIncreasesUp);
        var mp = Plane.Extract(m, o.Axis, o.Slice, o.IndexIncreasesUp);
        int w = sp.Width, h = sp.Height, n = w * h;
        int scale = Raster.CheckScale(o.Scale, w, h);

        // Normalise each image to its own maximum over the whole image (not the slice), as DIPY does over the volume.
        double sMax = Raster.FiniteMax(s.Voxels), mMax = Raster.FiniteMax(m.Voxels);
        var sb = new byte[n];
        var mb = new byte[n];
        for (int i = 0; i < n; i++) { sb[i] = Raster.ToByte(sp.Values[i], sMax); mb[i] = Raster.ToByte(mp.Values[i], mMax); }

        var overlay = new byte[3 * n];
        bool magenta = o.Colours == OverlayColours.MagentaGreen;
        for (int i = 0; i < n; i++)
        {
            overlay[3 * i] = sb[i];
            overlay[3 * i + 1] = mb[i];
            overlay[3 * i + 2] = magenta ? sb[i] : (byte)0;
        }
        if (o.Layout == OverlayLayout.Overlay)
            return (Raster.Upscale(overlay, w, h, scale), w * scale, h * scale);

        // Three panels: static | moving (grey, or in their own colours for colour photos) | overlay, each scaled,
        // separated by a dark grey gap.
        var panels = new[] { Panel(s, sb, o), Panel(m, mb, o), overlay };
        int pw = w * scale, ph = h * scale, gap = o.PanelGap;
        int total = 3 * pw + 2 * gap;
        if (total > Raster.MaxSide) throw new ArgumentOutOfRangeException(nameof(o), $"The three panels would be {total} pixels wide; lower the Scale.");
        var result = new byte[total * ph * 3];
        result.AsSpan().Fill(GapGrey);
        for (int p = 0; p < 3; p++)
        {
            var up = Raster.Upscale(panels[p], w, h, scale);
            int x0 = p * (pw + gap);
            for (int y = 0; y < ph; y++)
                Array.Copy(up, y * pw * 3, result, (y * total + x0) * 3, pw * 3);
        }
        return (result, total, ph);
    }

    /// <summary>The dark grey of the gaps between panels.</summary>
    internal const byte GapGrey = 48;

    /// <summary>A grey panel of the normalised values, or for a colour image its colour planes on the same plane.</summary>
    private static byte[] Panel(Image image, byte[] grey, OverlayOptions o)
    {
        if (!image.IsColour) return Grey(grey);
        var g = image.Grid;
        var planes = image.ColourPlanes;
        var rgb = new byte[3 * grey.Length];
        for (int c = 0; c < 3; c++)
        {
            var channel = new Image(g, planes.Slice(c * g.VoxelCount, g.VoxelCount).ToArray());
            var values = Plane.Extract(channel, o.Axis, o.Slice, o.IndexIncreasesUp).Values;
            for (int i = 0; i < values.Length; i++)
                rgb[3 * i + c] = (byte)Math.Clamp(Math.Round(float.IsFinite(values[i]) ? values[i] : 0, MidpointRounding.AwayFromZero), 0, 255);
        }
        return rgb;
    }

    private static byte[] Grey(byte[] v)
    {
        var rgb = new byte[3 * v.Length];
        for (int i = 0; i < v.Length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v[i];
        return rgb;
    }

}

/// <summary>One 2D plane of an image in display order (rows top to bottom), with the rule for which plane and which way up.</summary>
internal readonly record struct Plane(float[] Values, int Width, int Height)
{
    /// <summary>
    /// 2D images: the image itself. 3D images: the slice of <paramref name="axis"/> at <paramref name="slice"/> (middle
    /// when null), with the first in-plane voxel axis across and the second one vertical. <paramref name="up"/> says
    /// whether the vertical index increases upwards (null: true for 3D, false for 2D).
    /// </summary>
    public static Plane Extract(Image image, SliceAxis axis, int? slice, bool? up)
    {
        var g = image.Grid;
        var v = image.Voxels;
        if (g.Dimension == 2)
        {
            bool flip2 = up ?? false;
            var values = new float[g.NX * g.NY];
            for (int y = 0; y < g.NY; y++)
                v.Slice(y * g.NX, g.NX).CopyTo(values.AsSpan((flip2 ? g.NY - 1 - y : y) * g.NX, g.NX));
            return new Plane(values, g.NX, g.NY);
        }

        int s = Slices.ResolveSlice(g, axis, slice);
        var (wa, ha, _) = Slices.Axes(axis);
        int w = wa == 0 ? g.NX : g.NY, h = ha == 1 ? g.NY : g.NZ;
        var cut = Slices.Cut(g, v.Slice(0, g.VoxelCount), axis, s);
        if (!(up ?? true)) return new Plane(cut, w, h);
        var flipped = new float[w * h];
        for (int r = 0; r < h; r++) Array.Copy(cut, r * w, flipped, (h - 1 - r) * w, w);
        return new Plane(flipped, w, h);
    }
}
