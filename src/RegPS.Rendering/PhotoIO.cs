using RegPS.Engine.Images;
using RegPS.Engine.IO;
using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>How <see cref="PhotoIO.WritePng"/> maps greyscale voxel values to 0..255.</summary>
public enum PngIntensity
{
    /// <summary>Stretch the finite minimum..maximum to 0..255 (a constant image is written as its clamped value).</summary>
    MinMax,
    /// <summary>Write round(value) clamped to 0..255, so values read from an 8-bit picture are written back unchanged.</summary>
    Raw,
}

/// <summary>
/// Photos (PNG, JPEG and anything else SkiaSharp's codecs decode) as 2D images, and 2D images as 8-bit PNG.
/// <para>
/// Convention: voxel (x, y) is the pixel in column x and row y of the picture as it is displayed, row 0 at the top
/// (after EXIF orientation is applied). The grid is 2D with spacing 1 and an identity grid-to-world matrix, so world
/// x = column and world y = row (the numbers ITK gives a PNG, so a registration of two photos reports shifts in
/// pixels right and down). The renderers draw a 2D image with row 0 at the top, so Read then WritePng or
/// StereoOverlay reproduces the picture unflipped.
/// </para>
/// </summary>
public static class PhotoIO
{
    /// <summary>
    /// Reads a picture. Voxels are the luminance 0.299 R + 0.587 G + 0.114 B (0..255); a colour picture keeps its
    /// R, G and B planes (0..255) and has DataType "rgb24"; a greyscale picture (decoded as grey, or every pixel with
    /// R = G = B) has no colour planes and DataType "uint8". Alpha is ignored. EXIF orientation is applied.
    /// Limitation: SkiaSharp's PNG decoder delivers 16-bit PNGs as 8 bits a channel, so their voxels are 0..255 too.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ImageFormatException">The file is not a PNG or JPEG picture, or it is corrupt or truncated. Other
    /// formats SkiaSharp knows (GIF, WebP, BMP, WBMP, ICO) are refused: they have no lower bound on the bytes a declared
    /// size needs, so a tiny file could make the decoder allocate a gigabyte (found by fuzzing).</exception>
    public static Image Read(string path)
    {
        SkiaNative.EnsureResolver();
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"The picture '{full}' does not exist.", full);
        byte[] bytes = File.ReadAllBytes(full);
        if (bytes.Length == 0) throw new ImageFormatException(full, "the file is empty.");

        using var stream = new MemoryStream(bytes, writable: false);
        using var codec = SKCodec.Create(stream, out var createResult);
        if (codec is null)
            throw new ImageFormatException(full, $"not a picture format SkiaSharp can decode ({Describe(createResult)}).");
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg))
            throw new ImageFormatException(full, $"a {codec.EncodedFormat.ToString().ToUpperInvariant()} picture; RegPS reads PNG and JPEG pictures (convert it first).");
        var info = codec.Info;
        int w = info.Width, h = info.Height;
        if (w <= 0 || h <= 0) throw new ImageFormatException(full, $"the picture has an impossible size {w}x{h}.");
        CheckDeclaredSize(full, w, h, codec.EncodedFormat, bytes.Length);

        var decodeInfo = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[(long)w * h * 4];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba) result = codec.GetPixels(decodeInfo, (IntPtr)p);
        }
        if (result != SKCodecResult.Success)
            throw new ImageFormatException(full, result == SKCodecResult.IncompleteInput
                ? "the file is truncated (the picture data ends early)."
                : $"the picture data cannot be decoded ({Describe(result)}).");

        bool grey = info.ColorType == SKColorType.Gray8 || AllGrey(rgba);
        var (ow, oh) = Orient(rgba, w, h, codec.EncodedOrigin, out var oriented);

        int n = ow * oh;
        var lum = new float[n];
        float[]? colour = grey ? null : new float[3 * n];
        for (int i = 0; i < n; i++)
        {
            byte r = oriented[4 * i], g = oriented[4 * i + 1], b = oriented[4 * i + 2];
            lum[i] = grey ? r : (float)(0.299 * r + 0.587 * g + 0.114 * b);
            if (colour is not null) { colour[i] = r; colour[n + i] = g; colour[2 * n + i] = b; }
        }
        return new Image(Grid.Create2D(ow, oh), lum, 1, colour, full, grey ? "uint8" : "rgb24");
    }

    /// <summary>The most pixels <see cref="Read"/> decodes (2^28, e.g. 16384x16384: 1 GiB of RGBA while decoding).</summary>
    public const long MaxPixels = 1L << 28;

    /// <summary>
    /// Refuses a header whose size is absurd before any pixel buffer exists, so a tiny file that declares a huge
    /// picture costs no memory. Beyond the <see cref="MaxPixels"/> cap, the file must be at least as long as the
    /// smallest encoding of that many pixels: a PNG row holds at least 1 + ceil(w/8) bytes (1-bit pixels and the
    /// filter byte) and deflate shrinks at most 1032:1 (a 258-byte match in 2 bits); a baseline or progressive JPEG
    /// spends at least one bit on every 8x8 block of its first component. Other formats (GIF, WebP, ...) get the cap only.
    /// </summary>
    internal static void CheckDeclaredSize(string path, int w, int h, SKEncodedImageFormat format, long fileLength)
    {
        long pixels = (long)w * h;
        if (pixels > MaxPixels)
            throw new ImageFormatException(path, $"the picture declares {w}x{h} pixels ({pixels:N0}), more than RegPS reads ({MaxPixels:N0}).");
        long minimum = format switch
        {
            SKEncodedImageFormat.Png => h * (1 + (w + 7L) / 8) / 1032,
            SKEncodedImageFormat.Jpeg => (w + 7L) / 8 * ((h + 7L) / 8) / 8,
            _ => 0,
        };
        if (fileLength < minimum)
            throw new ImageFormatException(path, $"the picture declares {w}x{h} pixels, but the file has only {fileLength:N0} bytes and a {format.ToString().ToUpperInvariant()} of that size needs at least {minimum:N0}: it is truncated or its header is wrong.");
    }

    /// <summary>
    /// Writes a 2D image as an 8-bit PNG, row 0 at the top. A colour image (with colour planes, e.g. from
    /// <see cref="Read"/>) is written in colour unless <paramref name="greyscale"/>; otherwise the voxels are written
    /// as grey, scaled by <paramref name="intensity"/>. Atomic: a temporary file in the same folder is renamed into
    /// place; an existing file is replaced only when <paramref name="overwrite"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The image is 3D with more than one slice, or 4D.</exception>
    /// <exception cref="IOException">The file exists and overwrite is false (the message names the file), or the folder does not exist.</exception>
    public static void WritePng(Image image, string path, bool overwrite = false,
        PngIntensity intensity = PngIntensity.MinMax, bool greyscale = false)
    {
        SkiaNative.EnsureResolver();
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var bitmap = ToBitmap(image, intensity, greyscale);
        Raster.WritePng(bitmap, path, overwrite);
    }

    /// <summary>The bitmap <see cref="WritePng"/> would write.</summary>
    public static SKBitmap ToBitmap(Image image, PngIntensity intensity = PngIntensity.MinMax, bool greyscale = false)
    {
        SkiaNative.EnsureResolver();
        ArgumentNullException.ThrowIfNull(image);
        if (image.Grid.NZ != 1)
            throw new ArgumentException($"A PNG holds one 2D picture; this image is {string.Join("x", image.Grid.Shape)}. Take a slice first, or use StereoOverlay to render one.", nameof(image));
        if (image.Volumes != 1)
            throw new ArgumentException($"The image has {image.Volumes} volumes; pick one with Image.Volume(index) first.", nameof(image));
        int w = image.Grid.NX, h = image.Grid.NY, n = w * h;

        if (image.IsColour && !greyscale)
        {
            var c = image.ColourPlanes;
            var rgb = new byte[3 * n];
            for (int i = 0; i < n; i++)
            {
                rgb[3 * i] = Clamp(c[i]);
                rgb[3 * i + 1] = Clamp(c[n + i]);
                rgb[3 * i + 2] = Clamp(c[2 * n + i]);
            }
            return Raster.FromRgb(rgb, w, h);
        }

        var v = image.Voxels.Slice(0, n);
        var grey = new byte[n];
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var f in v) { if (float.IsFinite(f)) { if (f < min) min = f; if (f > max) max = f; } }
        bool stretch = intensity == PngIntensity.MinMax && max > min;
        double k = stretch ? 255.0 / (max - min) : 0;
        for (int i = 0; i < n; i++)
        {
            float f = v[i];
            if (float.IsNaN(f)) { grey[i] = 0; continue; }
            grey[i] = stretch ? ClampD((Math.Clamp((double)f, min, max) - min) * k) : Clamp(f);
        }
        return Raster.FromGrey(grey, w, h);
    }

    private static byte Clamp(float v) => ClampD(v);

    private static byte ClampD(double v) => double.IsNaN(v) || v <= 0 ? (byte)0 : v >= 255 ? (byte)255 : (byte)Math.Round(v, MidpointRounding.AwayFromZero);

    private static bool AllGrey(byte[] rgba)
    {
        for (int i = 0; i < rgba.Length; i += 4)
            if (rgba[i] != rgba[i + 1] || rgba[i] != rgba[i + 2]) return false;
        return true;
    }

    /// <summary>
    /// Applies an EXIF orientation: returns the displayed width and height and the RGBA pixels in display order.
    /// For a stored pixel (x, y) of a W x H picture the displayed position is, by EXIF tag:
    /// 1 (x, y); 2 (W-1-x, y); 3 (W-1-x, H-1-y); 4 (x, H-1-y); 5 (y, x); 6 (H-1-y, x); 7 (H-1-y, W-1-x); 8 (y, W-1-x).
    /// </summary>
    internal static (int Width, int Height) Orient(byte[] rgba, int w, int h, SKEncodedOrigin origin, out byte[] result)
    {
        if (origin is SKEncodedOrigin.TopLeft or 0) { result = rgba; return (w, h); }
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swap ? h : w, oh = swap ? w : h;
        result = new byte[rgba.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (dx, dy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (h - 1 - y, x),
                    SKEncodedOrigin.RightBottom => (h - 1 - y, w - 1 - x),
                    SKEncodedOrigin.LeftBottom => (y, w - 1 - x),
                    _ => (x, y),
                };
                Buffer.BlockCopy(rgba, 4 * (y * w + x), result, 4 * (dy * ow + dx), 4);
            }
        return (ow, oh);
    }

    private static string Describe(SKCodecResult r) => r switch
    {
        SKCodecResult.Unimplemented => "unsupported format or feature",
        SKCodecResult.InvalidInput => "invalid data",
        SKCodecResult.IncompleteInput => "truncated data",
        SKCodecResult.ErrorInInput => "corrupt data",
        SKCodecResult.InvalidConversion => "unsupported pixel format",
        SKCodecResult.CouldNotRewind => "cannot rewind the stream",
        _ => r.ToString(),
    };
}
