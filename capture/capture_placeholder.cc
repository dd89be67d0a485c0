// placeholder
namespace provaudit::capture {}
