using System.Management.Automation;
using RegPS.Rendering;

namespace RegPS;

/// <summary>
/// Runs once when the module is imported: points SkiaSharp at the native library laid out beside the assemblies
/// (&lt;rid&gt;/libSkiaSharp.*), which pwsh would not otherwise find. Holds no mutable state of its own.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    public void OnImport() => SkiaNative.EnsureResolver();
}
