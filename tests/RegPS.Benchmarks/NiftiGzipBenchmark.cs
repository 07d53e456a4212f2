using System.IO.Compression;
using RegPS.Engine.Images;
using RegPS.Engine.IO;

namespace RegPS.Benchmarks;

/// <summary>
/// "nifti-gzip": which gzip decompressor NiftiReader uses. Times BCL GZipStream (zlib-ng) against SharpZipLib's
/// GZipInputStream, both on decompression alone and on the whole NiftiReader.Read, for the 193x229x193 int16 brain
/// (made by nibabel when available, else smoothed noise written by RegPS) at gzip levels 1 and 6.
/// Options: --repeats N (default 7), --file PATH.
/// </summary>
public sealed class NiftiGzipBenchmark : IComparison
{
    public string Name => "nifti-gzip";
    public string Description => "gzip decompressor for .nii.gz: BCL GZipStream vs SharpZipLib GZipInputStream";

    public int Run(string[] args)
    {
        int repeats = NiftiBench.IntOption(args, "--repeats", 7);
        string dir = Path.Combine(Path.GetTempPath(), $"regps-nifti-gzip-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var old = NiftiReader.Gzip;
        try
        {
            var files = new List<(string Label, string Path)>();
            if (NiftiBench.Option(args, "--file") is { } given) files.Add(("given file", given));
            else
            {
                string level1 = Path.Combine(dir, "brain-l1.nii.gz");
                if (NiftiBench.PythonHas("nibabel") && NiftiBench.PythonHas("scipy"))
                    NiftiBench.RunPython("nifti_load_bench.py", "make", level1);
                else
                    NiftiWriter.Write(SmoothedNoise(), level1, NiftiDataType.Int16);
                var image = NiftiReader.Read(level1);
                string level6 = Path.Combine(dir, "brain-l6.nii.gz");
                var oldLevel = NiftiWriter.GzipLevel;
                NiftiWriter.GzipLevel = CompressionLevel.Optimal;
                try { NiftiWriter.Write(image, level6, NiftiDataType.Source); }
                finally { NiftiWriter.GzipLevel = oldLevel; }
                files.Add(("level 1 (nibabel default)", level1));
                files.Add(("level 6 (gzip default)", level6));
            }
            Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; median of {repeats} after warm-up");
            Console.WriteLine($"{"file",-26} {"MB",6} {"decoder",-12} {"inflate ms",11} {"Read ms",9}");
            foreach (var (label, path) in files)
            {
                double mb = new FileInfo(path).Length / 1e6;
                foreach (var backend in new[] { NiftiReader.GzipBackend.Bcl, NiftiReader.GzipBackend.SharpZipLib })
                {
                    double inflate = NiftiBench.Time(() => Inflate(path, backend), repeats);
                    NiftiReader.Gzip = backend;
                    double read = NiftiBench.Time(() => NiftiReader.Read(path), repeats);
                    Console.WriteLine($"{label,-26} {mb,6:0.0} {backend,-12} {inflate * 1000,11:0.0} {read * 1000,9:0.0}");
                }
            }
            // Writer: which gzip level for .nii.gz (size, write time, and the read time it buys).
            var img = NiftiReader.Read(files[0].Path);
            Console.WriteLine();
            Console.WriteLine($"{"NiftiWriter level",-26} {"MB",6} {"write ms",9} {"Read ms",9}");
            var oldWriteLevel = NiftiWriter.GzipLevel;
            try
            {
                NiftiReader.Gzip = NiftiReader.GzipBackend.Bcl;
                foreach (var level in new[] { CompressionLevel.Fastest, CompressionLevel.Optimal })
                {
                    NiftiWriter.GzipLevel = level;
                    string outPath = Path.Combine(dir, $"write-{level}.nii.gz");
                    double write = NiftiBench.Time(() => NiftiWriter.Write(img, outPath, NiftiDataType.Source, overwrite: true), repeats);
                    double read = NiftiBench.Time(() => NiftiReader.Read(outPath), repeats);
                    Console.WriteLine($"{level,-26} {new FileInfo(outPath).Length / 1e6,6:0.0} {write * 1000,9:0.0} {read * 1000,9:0.0}");
                }
            }
            finally { NiftiWriter.GzipLevel = oldWriteLevel; }
            return 0;
        }
        finally
        {
            NiftiReader.Gzip = old;
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private static long Inflate(string path, NiftiReader.GzipBackend backend)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using Stream s = backend == NiftiReader.GzipBackend.Bcl
            ? new GZipStream(fs, CompressionMode.Decompress)
            : new ICSharpCode.SharpZipLib.GZip.GZipInputStream(fs, 1 << 16);
        var buffer = new byte[1 << 20];
        long total = 0;
        int n;
        while ((n = s.Read(buffer, 0, buffer.Length)) > 0) total += n;
        return total;
    }

    private static Image SmoothedNoise()
    {
        const int nx = 193, ny = 229, nz = 193;
        var rng = new Random(0);
        var v = new float[nx * ny * nz];
        for (int i = 0; i < v.Length; i++) v[i] = (float)rng.NextDouble();
        var img = new Image(Grid.Create3D(nx, ny, nz), v);
        var smooth = RegPS.Engine.Filters.Gaussian.Smooth(img, 3.0);
        var s = smooth.ToArray();
        float min = s.Min(), max = s.Max();
        for (int i = 0; i < s.Length; i++) s[i] = MathF.Round((s[i] - min) / (max - min) * 3000);
        return new Image(img.Grid, s);
    }
}
