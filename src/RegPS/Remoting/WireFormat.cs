using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.Transforms;

namespace RegPS.Remoting;

/// <summary>
/// The bytes an image, a map or a transform chain travels as between PowerShell processes (Start-Job,
/// Invoke-Command, Export-Clixml). PowerShell's serializer keeps only primitive values, so each of these types gets a
/// hidden property (RegPSData, see RegPS.Types.ps1xml) holding this encoding, and <see cref="DeserializingConverter"/>
/// rebuilds the object from it on the other side.
/// <para>
/// Layout: the magic "RPSW", a format version (1), a kind byte, then the object; little-endian throughout, floats as
/// IEEE bits (values come back bit for bit), the whole payload deflate-compressed after the 6-byte prefix. Grids are
/// NX, NY, NZ, dimension and the 16 grid-to-world values; images their grid, volumes, voxels, optional colour planes,
/// source path, data type and, for an image read from a NIfTI file, its header (so Export-NiftiImage still keeps the
/// source's type). Maps keep their matrices and fields exactly, and the registration's report (options, metric,
/// iterations, timings) as far as the engine's types hold it.
/// </para>
/// </summary>
internal static class WireFormat
{
    private const uint Magic = 0x57535052; // "RPSW" little-endian
    private const byte Version = 1;

    internal enum Kind : byte { Image = 1, AffineMap = 2, DiffeomorphicMap = 3, TransformChain = 4 }

    // Options records as JSON, without their images (masks) and matrices, which travel on their own.
    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                info =>
                {
                    if (info.Kind != System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object) return;
                    for (int i = info.Properties.Count - 1; i >= 0; i--)
                    {
                        var t = info.Properties[i].PropertyType;
                        if (t == typeof(Image) || t == typeof(Matrix4) || t == typeof(Matrix4?)) info.Properties.RemoveAt(i);
                    }
                },
            },
        },
    };

    public static byte[] Encode(object value)
    {
        var kind = value switch
        {
            Image => Kind.Image,
            AffineMap => Kind.AffineMap,
            DiffeomorphicMap => Kind.DiffeomorphicMap,
            TransformChain => Kind.TransformChain,
            _ => throw new ArgumentException($"RegPS does not serialise a {value?.GetType().Name ?? "null"}."),
        };
        using var ms = new MemoryStream();
        Span<byte> head = stackalloc byte[6];
        BinaryPrimitives.WriteUInt32LittleEndian(head, Magic);
        head[4] = Version;
        head[5] = (byte)kind;
        ms.Write(head);
        using (var z = new DeflateStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var w = new BinaryWriter(z))
        {
            switch (value)
            {
                case Image i: WriteImage(w, i); break;
                case AffineMap a: WriteAffineMap(w, a); break;
                case DiffeomorphicMap d: WriteDiffeomorphicMap(w, d); break;
                case TransformChain c: WriteChain(w, c); break;
            }
        }
        return ms.ToArray();
    }

    /// <summary>The object encoded in <paramref name="bytes"/>; an <see cref="InvalidDataException"/> saying what is wrong otherwise.</summary>
    public static object Decode(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 6 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic)
            throw new InvalidDataException("The RegPSData property does not hold a RegPS object (wrong magic number).");
        if (bytes[4] != Version)
            throw new InvalidDataException($"The object was serialised by a RegPS with wire format {bytes[4]}; this one reads format {Version}. Use the same RegPS version on both sides.");
        var kind = (Kind)bytes[5];
        using var z = new DeflateStream(new MemoryStream(bytes, 6, bytes.Length - 6), CompressionMode.Decompress);
        using var r = new BinaryReader(z);
        try
        {
            return kind switch
            {
                Kind.Image => ReadImage(r),
                Kind.AffineMap => ReadAffineMap(r),
                Kind.DiffeomorphicMap => ReadDiffeomorphicMap(r),
                Kind.TransformChain => ReadChain(r),
                _ => throw new InvalidDataException($"Unknown RegPS object kind {(byte)kind}."),
            };
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The RegPSData property is truncated.", e);
        }
    }

    public static Kind? KindOf(byte[] bytes) =>
        bytes.Length >= 6 && BinaryPrimitives.ReadUInt32LittleEndian(bytes) == Magic ? (Kind)bytes[5] : null;

    // ---- pieces ----

    private static void WriteMatrix(BinaryWriter w, Matrix4 m)
    {
        for (int r = 0; r < 4; r++) for (int c = 0; c < 4; c++) w.Write(m[r, c]);
    }

    private static Matrix4 ReadMatrix(BinaryReader r)
    {
        var v = new double[16];
        for (int i = 0; i < 16; i++) v[i] = r.ReadDouble();
        return new Matrix4(v);
    }

    private static void WriteGrid(BinaryWriter w, Grid g)
    {
        w.Write(g.NX); w.Write(g.NY); w.Write(g.NZ); w.Write((byte)g.Dimension);
        WriteMatrix(w, g.GridToWorld);
    }

    private static Grid ReadGrid(BinaryReader r)
    {
        int nx = r.ReadInt32(), ny = r.ReadInt32(), nz = r.ReadInt32();
        int dim = r.ReadByte();
        return new Grid(nx, ny, nz, ReadMatrix(r), dim);
    }

    private static void WriteFloats(BinaryWriter w, ReadOnlySpan<float> v)
    {
        w.Write(v.Length);
        if (BitConverter.IsLittleEndian) w.Write(MemoryMarshal.AsBytes(v));
        else foreach (var f in v) w.Write(f);
    }

    private static float[] ReadFloats(BinaryReader r, long expected)
    {
        int n = r.ReadInt32();
        if (n != expected) throw new InvalidDataException($"Expected {expected} values, the data holds {n}.");
        var v = new float[n];
        if (BitConverter.IsLittleEndian)
        {
            var bytes = MemoryMarshal.AsBytes(v.AsSpan());
            int read = 0;
            while (read < bytes.Length)
            {
                int k = r.BaseStream.Read(bytes[read..]);
                if (k <= 0) throw new EndOfStreamException();
                read += k;
            }
        }
        else for (int i = 0; i < n; i++) v[i] = r.ReadSingle();
        return v;
    }

    private static void WriteString(BinaryWriter w, string? s)
    {
        w.Write(s is not null);
        if (s is not null) w.Write(s);
    }

    private static string? ReadString(BinaryReader r) => r.ReadBoolean() ? r.ReadString() : null;

    private static void WriteJson<T>(BinaryWriter w, T? value) where T : class =>
        WriteString(w, value is null ? null : JsonSerializer.Serialize(value, Json));

    private static T? ReadJson<T>(BinaryReader r) where T : class =>
        ReadString(r) is { } s ? JsonSerializer.Deserialize<T>(s, Json) : null;

    private static void WriteField(BinaryWriter w, DisplacementField f)
    {
        WriteGrid(w, f.Grid);
        WriteFloats(w, f.Values);
    }

    private static DisplacementField ReadField(BinaryReader r)
    {
        var g = ReadGrid(r);
        return new DisplacementField(g, ReadFloats(r, (long)g.VoxelCount * g.Dimension));
    }

    // ---- types ----

    private static void WriteImage(BinaryWriter w, Image i)
    {
        WriteGrid(w, i.Grid);
        w.Write(i.Volumes);
        WriteFloats(w, i.Voxels);
        w.Write(i.IsColour);
        if (i.IsColour) WriteFloats(w, i.ColourPlanes);
        WriteString(w, i.SourcePath);
        w.Write(i.DataType);
        w.Write(i.SourceHeader is not null);
        if (i.SourceHeader is { } h)
        {
            var block = NiftiFormat.Serialize(h);
            w.Write(block.Length);
            w.Write(block);
            w.Write(i.VoxelsAreSource);
        }
    }

    private static Image ReadImage(BinaryReader r)
    {
        var g = ReadGrid(r);
        int volumes = r.ReadInt32();
        var voxels = ReadFloats(r, (long)g.VoxelCount * volumes);
        float[]? colour = r.ReadBoolean() ? ReadFloats(r, 3L * g.VoxelCount) : null;
        string? source = ReadString(r);
        string dataType = r.ReadString();
        NiftiHeader? header = null;
        bool voxelsAreSource = false;
        if (r.ReadBoolean())
        {
            int n = r.ReadInt32();
            var block = r.ReadBytes(n);
            if (block.Length != n) throw new EndOfStreamException();
            header = NiftiFormat.Parse(block, n == 348 ? 1 : 2, bigEndian: false);
            voxelsAreSource = r.ReadBoolean();
        }
        return new Image(g, voxels, volumes, colour, source, dataType, header, voxelsAreSource);
    }

    private static void WriteAffineMap(BinaryWriter w, AffineMap a)
    {
        WriteMatrix(w, a.Affine);
        WriteGrid(w, a.Domain);
        WriteGrid(w, a.Codomain);
        w.Write(a.Options is not null);
        if (a.Options is null) return;
        // Matrices and masks are not JSON values: the options travel without them, then each on its own.
        WriteJson(w, a.Options with { InitialMatrix = null, StaticMask = null, MovingMask = null });
        w.Write(a.Options.InitialMatrix.HasValue);
        if (a.Options.InitialMatrix is { } initial) WriteMatrix(w, initial);
        foreach (var mask in new[] { a.Options.StaticMask, a.Options.MovingMask })
        {
            w.Write(mask is not null);
            if (mask is not null) WriteImage(w, mask);
        }
        w.Write(a.Metric);
        w.Write(a.Stages.Count); foreach (var s in a.Stages) w.Write(s);
        w.Write(a.IterationsPerLevel.Length); foreach (var k in a.IterationsPerLevel) w.Write(k);
        w.Write(a.MetricTrace.Count); foreach (var v in a.MetricTrace) w.Write(v);
        w.Write(a.Elapsed.Ticks);
        w.Write(a.Seed.HasValue); w.Write(a.Seed ?? 0);
        w.Write(a.Center.Length); foreach (var c in a.Center) w.Write(c);
    }

    private static AffineMap ReadAffineMap(BinaryReader r)
    {
        var m = ReadMatrix(r);
        var domain = ReadGrid(r);
        var codomain = ReadGrid(r);
        if (!r.ReadBoolean()) return new AffineMap(m, domain, codomain);
        var options = ReadJson<AffineOptions>(r) ?? throw new InvalidDataException("The map's options are missing.");
        Matrix4? initial = r.ReadBoolean() ? ReadMatrix(r) : null;
        Image? staticMask = r.ReadBoolean() ? ReadImage(r) : null;
        Image? movingMask = r.ReadBoolean() ? ReadImage(r) : null;
        options = options with { InitialMatrix = initial, StaticMask = staticMask, MovingMask = movingMask };
        double metric = r.ReadDouble();
        var stages = new string[r.ReadInt32()]; for (int i = 0; i < stages.Length; i++) stages[i] = r.ReadString();
        var iterations = new int[r.ReadInt32()]; for (int i = 0; i < iterations.Length; i++) iterations[i] = r.ReadInt32();
        var trace = new double[r.ReadInt32()]; for (int i = 0; i < trace.Length; i++) trace[i] = r.ReadDouble();
        var elapsed = TimeSpan.FromTicks(r.ReadInt64());
        bool hasSeed = r.ReadBoolean(); int seed = r.ReadInt32();
        var center = new double[r.ReadInt32()]; for (int i = 0; i < center.Length; i++) center[i] = r.ReadDouble();
        return new AffineMap(m, domain, codomain, options, metric, stages, iterations, trace, elapsed, hasSeed ? seed : null, center);
    }

    private static void WriteDiffeomorphicMap(BinaryWriter w, DiffeomorphicMap d)
    {
        WriteMatrix(w, d.Prealign);
        WriteGrid(w, d.Domain);
        WriteGrid(w, d.Codomain);
        WriteField(w, d.Forward);
        WriteField(w, d.Backward);
        WriteJson(w, d.Options);
        w.Write(d.EnergyTrace.Count); foreach (var v in d.EnergyTrace) w.Write(v);
        w.Write(d.IterationsPerLevel.Length); foreach (var k in d.IterationsPerLevel) w.Write(k);
        w.Write(d.Elapsed.Ticks);
        w.Write(d.FinalCorrelation);
    }

    private static DiffeomorphicMap ReadDiffeomorphicMap(BinaryReader r)
    {
        var prealign = ReadMatrix(r);
        var domain = ReadGrid(r);
        var codomain = ReadGrid(r);
        var forward = ReadField(r);
        var backward = ReadField(r);
        var options = ReadJson<SynOptions>(r) ?? new SynOptions();
        var energy = new double[r.ReadInt32()]; for (int i = 0; i < energy.Length; i++) energy[i] = r.ReadDouble();
        var iterations = new int[r.ReadInt32()]; for (int i = 0; i < iterations.Length; i++) iterations[i] = r.ReadInt32();
        var elapsed = TimeSpan.FromTicks(r.ReadInt64());
        double correlation = r.ReadDouble();
        return new DiffeomorphicMap(prealign, domain, codomain, forward, backward, options, energy, iterations, elapsed, correlation);
    }

    private static void WriteChain(BinaryWriter w, TransformChain c)
    {
        WriteString(w, c.Source);
        w.Write(c.Steps.Count);
        foreach (var s in c.Steps)
        {
            switch (s)
            {
                case AffineStep a:
                    w.Write((byte)1); WriteString(w, a.Source); w.Write((byte)a.Dimension); WriteMatrix(w, a.Matrix);
                    break;
                case DisplacementFieldStep f:
                    w.Write((byte)2); WriteString(w, f.Source); WriteField(w, f.Field);
                    w.Write(f.InverseField is not null);
                    if (f.InverseField is not null) WriteField(w, f.InverseField);
                    break;
                default:
                    throw new ArgumentException($"RegPS does not serialise a {s.GetType().Name} step.");
            }
        }
    }

    private static TransformChain ReadChain(BinaryReader r)
    {
        string source = ReadString(r) ?? "";
        int n = r.ReadInt32();
        var steps = new TransformStep[n];
        for (int i = 0; i < n; i++)
        {
            byte kind = r.ReadByte();
            string stepSource = ReadString(r) ?? "";
            steps[i] = kind switch
            {
                1 => new AffineStep(ReadMatrixAfterDimension(r, out int dim), dim) { Source = stepSource },
                2 => ReadFieldStep(r, stepSource),
                _ => throw new InvalidDataException($"Unknown transform step kind {kind}."),
            };
        }
        return new TransformChain(steps, source);
    }

    private static Matrix4 ReadMatrixAfterDimension(BinaryReader r, out int dimension)
    {
        dimension = r.ReadByte();
        return ReadMatrix(r);
    }

    private static DisplacementFieldStep ReadFieldStep(BinaryReader r, string source)
    {
        var field = ReadField(r);
        var inverse = r.ReadBoolean() ? ReadField(r) : null;
        return new DisplacementFieldStep(field, inverse) { Source = source };
    }
}
